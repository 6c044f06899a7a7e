//! Message text handling: Telegram's HTML parse mode and length rules.
//!
//! The parser follows tdlib's `parse_html` closely, including its error texts,
//! so a bot that emits broken markup fails here the way it would fail in
//! production. Offsets and lengths are in UTF-16 code units, as in the Bot API.

use serde_json::{Value, json};

use super::ApiError;

/// Visible text plus its entities, as stored on a message.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Formatted {
    pub text: String,
    pub entities: Vec<Value>,
}

pub(crate) fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Builds the stored text from `raw` according to `parse_mode` (or explicit
/// `entities`), trimming surrounding whitespace like Telegram does.
/// Returns `None` when nothing visible is left.
pub(crate) fn format(
    raw: &str,
    parse_mode: Option<&str>,
    entities: Option<Value>,
) -> Result<Option<Formatted>, ApiError> {
    let parsed = match parse_mode.map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => Formatted {
            text: raw.to_owned(),
            entities: match entities {
                Some(Value::Array(items)) => items,
                None => Vec::new(),
                Some(_) => return Err(ApiError::bad("can't parse entities JSON object")),
            },
        },
        Some("html") => {
            parse_html(raw).map_err(|e| ApiError::bad(&format!("can't parse entities: {e}")))?
        }
        // Markdown flavours are accepted but stored verbatim (not emulated).
        Some("markdown") | Some("markdownv2") => Formatted {
            text: raw.to_owned(),
            entities: Vec::new(),
        },
        Some(_) => return Err(ApiError::bad("unsupported parse_mode")),
    };
    Ok(trim(parsed))
}

/// Strips leading/trailing whitespace and shifts entities accordingly.
fn trim(f: Formatted) -> Option<Formatted> {
    let trimmed = f.text.trim();
    if trimmed.is_empty() {
        return None;
    }
    let lead = utf16_len(&f.text[..f.text.len() - f.text.trim_start().len()]) as i64;
    let len = utf16_len(trimmed) as i64;
    let entities = f
        .entities
        .into_iter()
        .filter_map(|mut e| {
            let offset = e.get("offset")?.as_i64()?;
            let end = offset + e.get("length")?.as_i64()?;
            let (start, end) = ((offset - lead).max(0), (end - lead).min(len));
            if end <= start {
                return None;
            }
            e["offset"] = json!(start);
            e["length"] = json!(end - start);
            Some(e)
        })
        .collect();
    Some(Formatted {
        text: trimmed.to_owned(),
        entities,
    })
}

const TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "s",
    "strike",
    "del",
    "u",
    "ins",
    "tg-spoiler",
    "tg-emoji",
    "span",
    "pre",
    "code",
    "blockquote",
];

struct Open {
    tag: String,
    start: usize,
    arg: Option<String>,
    expandable: bool,
}

/// Parses Telegram-flavoured HTML; the error string is tdlib's wording.
pub(crate) fn parse_html(src: &str) -> Result<Formatted, String> {
    let b = src.as_bytes();
    let n = b.len();
    let space = |c: u8| c.is_ascii_whitespace();
    let mut out = String::with_capacity(n);
    let mut pos = 0usize; // UTF-16 length of `out`
    let mut stack: Vec<Open> = Vec::new();
    let mut entities: Vec<Value> = Vec::new();
    fn push(out: &mut String, pos: &mut usize, c: char) {
        out.push(c);
        *pos += c.len_utf16();
    }
    let mut i = 0;
    while i < n {
        if b[i] == b'&' {
            let (c, len) = decode_entity(&src[i..]).unwrap_or(('&', 1));
            push(&mut out, &mut pos, c);
            i += len;
            continue;
        }
        if b[i] != b'<' {
            let c = src[i..].chars().next().unwrap_or('\u{fffd}');
            push(&mut out, &mut pos, c);
            i += c.len_utf8();
            continue;
        }
        let begin = i;
        i += 1;
        let unclosed = || format!("Unclosed start tag at byte offset {begin}");
        if b.get(i) != Some(&b'/') {
            let name_start = i;
            while i < n && !space(b[i]) && b[i] != b'>' {
                i += 1;
            }
            if i >= n {
                return Err(unclosed());
            }
            let tag = src[name_start..i].to_ascii_lowercase();
            if !TAGS.contains(&tag.as_str()) {
                return Err(format!(
                    "Unsupported start tag \"{tag}\" at byte offset {begin}"
                ));
            }
            let (mut arg, mut expandable) = (None, false);
            loop {
                while i < n && space(b[i]) {
                    i += 1;
                }
                if i >= n {
                    return Err(unclosed());
                }
                if b[i] == b'>' {
                    i += 1;
                    break;
                }
                let attr_start = i;
                while i < n && !space(b[i]) && b[i] != b'=' && b[i] != b'>' {
                    i += 1;
                }
                let attr = src[attr_start..i].to_ascii_lowercase();
                if attr.is_empty() {
                    return Err(format!(
                        "Empty attribute name in the tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                while i < n && space(b[i]) {
                    i += 1;
                }
                if i >= n {
                    return Err(unclosed());
                }
                if b[i] != b'=' {
                    if tag == "blockquote" && attr == "expandable" {
                        expandable = true;
                        continue;
                    }
                    return Err(format!(
                        "Expected equal sign in declaration of an attribute of the tag \"{tag}\" at byte offset {begin}"
                    ));
                }
                i += 1;
                while i < n && space(b[i]) {
                    i += 1;
                }
                if i >= n {
                    return Err(unclosed());
                }
                let value = if b[i] == b'"' || b[i] == b'\'' {
                    let quote = b[i];
                    i += 1;
                    let mut value = String::new();
                    while i < n && b[i] != quote {
                        let (c, len) = match b[i] {
                            b'&' => decode_entity(&src[i..]).unwrap_or(('&', 1)),
                            _ => src[i..]
                                .chars()
                                .next()
                                .map_or(('\u{fffd}', 1), |c| (c, c.len_utf8())),
                        };
                        value.push(c);
                        i += len;
                    }
                    i += 1;
                    value
                } else {
                    let token_start = i;
                    while i < n && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'-') {
                        i += 1;
                    }
                    if token_start == i {
                        return Err(format!(
                            "Unexpected end of name token at byte offset {token_start}"
                        ));
                    }
                    src[token_start..i].to_owned()
                };
                if i >= n {
                    return Err(unclosed());
                }
                let wanted = matches!(
                    (tag.as_str(), attr.as_str()),
                    ("a", "href")
                        | ("code", "class")
                        | ("span", "class")
                        | ("tg-emoji", "emoji-id")
                );
                if wanted {
                    arg = Some(value);
                }
            }
            if tag == "span" && arg.as_deref() != Some("tg-spoiler") {
                return Err(format!(
                    "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
                ));
            }
            stack.push(Open {
                tag,
                start: pos,
                arg,
                expandable,
            });
        } else {
            if stack.is_empty() {
                return Err(format!("Unexpected end tag at byte offset {begin}"));
            }
            i += 1;
            let name_start = i;
            while i < n && !space(b[i]) && b[i] != b'>' {
                i += 1;
            }
            let end_tag = src[name_start..i].to_ascii_lowercase();
            while i < n && space(b[i]) {
                i += 1;
            }
            if i >= n || b[i] != b'>' {
                return Err(format!("Unclosed end tag at byte offset {begin}"));
            }
            i += 1;
            let Some(open) = stack.pop() else { break };
            if !end_tag.is_empty() && end_tag != open.tag {
                return Err(format!(
                    "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{end_tag}>\"",
                    open.tag
                ));
            }
            // `<pre><code class="language-x">` gives the pre block its language.
            if open.tag == "code" {
                let lang = open
                    .arg
                    .as_deref()
                    .and_then(|c| c.strip_prefix("language-"));
                if let (Some(lang), Some(parent)) = (lang, stack.last_mut())
                    && parent.tag == "pre"
                    && parent.start == open.start
                {
                    parent.arg = Some(lang.to_owned());
                    continue;
                }
            }
            if pos > open.start
                && let Some(mut e) = entity_for(&open)
            {
                e["offset"] = json!(open.start);
                e["length"] = json!(pos - open.start);
                entities.push(e);
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.tag
        ));
    }
    entities.sort_by_key(|e| {
        let num = |k: &str| e.get(k).and_then(Value::as_i64).unwrap_or(0);
        (num("offset"), -num("length"))
    });
    Ok(Formatted {
        text: out,
        entities,
    })
}

/// The Bot API entity for a closed tag (without offset/length).
fn entity_for(open: &Open) -> Option<Value> {
    let kind = match open.tag.as_str() {
        "b" | "strong" => "bold",
        "i" | "em" => "italic",
        "u" | "ins" => "underline",
        "s" | "strike" | "del" => "strikethrough",
        "span" | "tg-spoiler" => "spoiler",
        "code" => "code",
        "blockquote" if open.expandable => "expandable_blockquote",
        "blockquote" => "blockquote",
        "pre" => return Some(json!({"type": "pre", "language": open.arg})),
        "tg-emoji" => {
            return Some(json!({"type": "custom_emoji", "custom_emoji_id": open.arg.clone()?}));
        }
        "a" => {
            // Telegram silently drops links it cannot use; bare hosts get http://.
            let href = open.arg.as_deref()?.trim();
            let url = if href.contains("://") {
                let scheme_ok = ["http://", "https://", "tg://", "ton://"]
                    .iter()
                    .any(|s| href.starts_with(s));
                scheme_ok.then(|| href.to_owned())?
            } else if href.contains('.') && !href.contains(char::is_whitespace) {
                format!("http://{href}")
            } else {
                return None;
            };
            return Some(json!({"type": "text_link", "url": url}));
        }
        _ => return None,
    };
    Some(json!({ "type": kind }))
}

/// Decodes `&lt;` `&gt;` `&amp;` `&quot;` `&#NN;` `&#xHH;`; returns the char and bytes consumed.
fn decode_entity(s: &str) -> Option<(char, usize)> {
    let end = s.bytes().take(12).position(|c| c == b';')?;
    let name = &s[1..end];
    let c = match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')?
        }
    };
    Some((c, end + 1))
}
