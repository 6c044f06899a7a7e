//! What users type that the bot keeps: parsed once at the edge, so code past it holds a value
//! that is known to be valid (parse, don't validate).

use std::ops::RangeInclusive;

/// A prompt for a generation: trimmed, within [`Prompt::CHARS`] characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prompt(String);

impl Prompt {
    pub const CHARS: RangeInclusive<usize> = 5..=500;

    /// The prompt in `text`; `Err(length)` when the trimmed text is too short or too long.
    pub fn parse(text: &str) -> Result<Self, usize> {
        let prompt = text.trim();
        let chars = prompt.chars().count();
        if Self::CHARS.contains(&chars) {
            Ok(Self(prompt.to_owned()))
        } else {
            Err(chars)
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An avatar's name: runs of whitespace made one space, within [`AvatarName::CHARS`]
/// characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvatarName(String);

impl AvatarName {
    pub const CHARS: RangeInclusive<usize> = 2..=50;

    /// The name in `text`; `Err(length)` when it is too short or too long.
    pub fn parse(text: &str) -> Result<Self, usize> {
        let name = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let chars = name.chars().count();
        if Self::CHARS.contains(&chars) {
            Ok(Self(name))
        } else {
            Err(chars)
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_tidied_and_bounded() {
        assert_eq!(
            AvatarName::parse("  Анна   Мария ").map(AvatarName::into_string),
            Ok("Анна Мария".into())
        );
        assert_eq!(AvatarName::parse("A"), Err(1));
        assert_eq!(AvatarName::parse(&"я".repeat(51)), Err(51));
        assert!(AvatarName::parse(&"я".repeat(50)).is_ok());
    }

    #[test]
    fn prompts_are_trimmed_and_bounded() {
        assert_eq!(Prompt::parse("  a cat  ").unwrap().as_str(), "a cat");
        assert_eq!(Prompt::parse(" cat "), Err(3));
        assert_eq!(Prompt::parse(&"я".repeat(501)), Err(501));
        assert!(Prompt::parse(&"я".repeat(500)).is_ok());
    }
}
