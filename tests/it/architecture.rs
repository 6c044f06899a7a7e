//! The shape of `src/` holds: every module imports only its own layer or the layers below it
//! (the table is ARCHITECTURE.md's), and no files import each other in a circle (a parent module
//! and its own child excepted). Reads the source as text, the way a reviewer would: `crate::`
//! paths, `use crate::{...}` groups and `super::` references, outside `#[cfg(test)] mod tests`.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// The layers, lowest first: what each top-level module of `src/` is.
const LAYERS: &[(u8, &[&str])] = &[
    (
        1,
        &[
            "config", "db", "kv", "metrics", "media", "bot_api", "sandbox", "replica",
        ],
    ),
    (2, &["domain"]),
    (3, &["i18n"]),
    (
        4,
        &[
            "ledger",
            "users",
            "dialogue",
            "provider",
            "jobs",
            "llm",
            "dead_letters",
        ],
    ),
    (5, &["delivery"]),
    (6, &["state", "telegram"]),
    (
        7,
        &[
            "menu",
            "balance",
            "payments",
            "promo",
            "gallery",
            "generation",
            "avatar",
            "settings",
        ],
    ),
    (8, &["dispatch", "http", "app", "admin"]),
];

fn layer_of(module: &str) -> Option<u8> {
    let top = module.split("::").next()?;
    LAYERS
        .iter()
        .find(|(_, modules)| modules.contains(&top))
        .map(|(layer, _)| *layer)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` → `a::b`; `src/a/mod.rs` → `a`.
fn module_path(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).expect("under src");
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier path starting at `text` (`a::b::C`), up to the first other character.
fn path_at(text: &str) -> String {
    let mut end = 0;
    let bytes: Vec<char> = text.chars().collect();
    while end < bytes.len() {
        if is_ident_char(bytes[end]) {
            end += 1;
        } else if bytes[end] == ':'
            && bytes.get(end + 1) == Some(&':')
            && bytes.get(end + 2).is_some_and(|c| is_ident_char(*c))
        {
            end += 2;
        } else {
            break;
        }
    }
    bytes[..end].iter().collect()
}

/// Expands a `use` group body (`a::{b, c}, d as e`) into full paths.
fn expand(prefix: &str, body: &str, out: &mut Vec<String>) {
    let mut depth = 0;
    let mut item = String::new();
    let mut items = Vec::new();
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            items.push(std::mem::take(&mut item));
        } else {
            item.push(c);
        }
    }
    items.push(item);
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let join = |p: &str| {
            if prefix.is_empty() {
                p.to_owned()
            } else if p.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}::{p}")
            }
        };
        if let Some((head, rest)) = item.split_once('{') {
            let head = head.trim().trim_end_matches("::");
            let inner = rest.rsplit_once('}').map_or(rest, |(inner, _)| inner);
            expand(&join(head), inner, out);
        } else {
            let name = item.split(" as ").next().unwrap_or(item).trim();
            out.push(join(name).replace("::self", ""));
        }
    }
}

/// Every module path this file names.
fn references(source: &str) -> Vec<String> {
    let source = match source.find("#[cfg(test)]\nmod tests") {
        Some(cut) => &source[..cut],
        None => source,
    };
    let mut found = Vec::new();
    for (at, _) in source.match_indices("crate::") {
        let rest = &source[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let body = group.split_once("};").map_or("", |(b, _)| b);
            expand("", body, &mut found);
        } else {
            found.push(path_at(rest));
        }
    }
    found
}

/// The longest module that `path` lies in.
fn resolve<'a>(modules: &'a BTreeSet<String>, path: &str) -> Option<&'a String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .find_map(|n| modules.get(&parts[..n].join("::")))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let sources: BTreeMap<String, String> = files
        .iter()
        .map(|f| {
            (
                module_path(&root, f),
                std::fs::read_to_string(f).expect("readable"),
            )
        })
        .filter(|(m, _)| m != "main" && m != "lib")
        .collect();
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, source) in &sources {
        let targets = edges.entry(module.clone()).or_default();
        for path in references(source) {
            if let Some(target) = resolve(&modules, &path)
                && target != module
            {
                targets.insert(target.clone());
            }
        }
        // `super::x` from a child names its parent's module x (or the parent itself).
        if let Some((parent, _)) = module.rsplit_once("::") {
            for (at, _) in source.match_indices("super::") {
                let name = path_at(&source[at + "super::".len()..]);
                let name = name.split("::").next().unwrap_or_default();
                let candidate = format!("{parent}::{name}");
                let target = if modules.contains(&candidate) {
                    candidate
                } else {
                    parent.to_owned()
                };
                if &target != module {
                    targets.insert(target);
                }
            }
        }
    }
    edges
}

#[test]
fn every_module_has_a_layer_and_imports_none_above_it() {
    let edges = graph();
    let mut wrong = Vec::new();
    for (module, targets) in &edges {
        let Some(from) = layer_of(module) else {
            wrong.push(format!(
                "{module}: no layer (add it to the table here and in ARCHITECTURE.md)"
            ));
            continue;
        };
        for target in targets {
            match layer_of(target) {
                Some(to) if to <= from => {}
                to => wrong.push(format!(
                    "{module} (layer {from}) imports {target} (layer {})",
                    to.map_or("?".to_owned(), |l| l.to_string())
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "layer violations:\n{}", wrong.join("\n"));
}

/// Strongly connected components (Tarjan), for cycles among files.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on_stack.insert(v);
            if let Some(targets) = self.edges.get(v) {
                for w in targets {
                    let w = w.as_str();
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let low = self.low[v].min(self.low[w]);
                        self.low.insert(v, low);
                    } else if self.on_stack.contains(w) {
                        let low = self.low[v].min(self.index[w]);
                        self.low.insert(v, low);
                    }
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn no_files_import_each_other_in_a_circle() {
    let bad: Vec<Vec<String>> = cycles(&graph())
        .into_iter()
        .filter(|c| c.len() > 2)
        .collect();
    assert!(bad.is_empty(), "import cycles: {bad:#?}");
}

#[test]
fn the_checker_sees_what_it_should() {
    let found = references(
        "use crate::{a::{b, c::D}, e as f};\nfn x() { crate::g::h(); }\n#[cfg(test)]\nmod tests { use crate::z; }",
    );
    assert_eq!(found, ["a::b", "a::c::D", "e", "g::h"]);
    let mut edges = BTreeMap::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        edges
            .entry(from.to_owned())
            .or_insert_with(BTreeSet::new)
            .insert(to.to_owned());
    }
    assert_eq!(cycles(&edges).len(), 1);
    assert_eq!(layer_of("telegram::ctx"), Some(6));
    assert_eq!(layer_of("nowhere"), None);
}
