//! Per-user settings (SPEC P4 `PATCH /me/settings`).

use crate::ParseError;

/// Which class of model the user prefers when a request does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelProfile {
    #[default]
    Simple,
    Complex,
}

impl ModelProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelProfile::Simple => "simple",
            ModelProfile::Complex => "complex",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "simple" => Ok(ModelProfile::Simple),
            "complex" => Ok(ModelProfile::Complex),
            other => Err(ParseError::new(format!("unknown model_profile `{other}` (expected simple or complex)"))),
        }
    }
}

/// The languages the product speaks to users in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    #[default]
    En,
    De,
    Fr,
    It,
    Ru,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::De => "de",
            Language::Fr => "fr",
            Language::It => "it",
            Language::Ru => "ru",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "en" => Ok(Language::En),
            "de" => Ok(Language::De),
            "fr" => Ok(Language::Fr),
            "it" => Ok(Language::It),
            "ru" => Ok(Language::Ru),
            other => Err(ParseError::new(format!("unknown language `{other}` (expected en, de, fr, it or ru)"))),
        }
    }
}

/// A user's settings as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserSettings {
    pub model_profile: ModelProfile,
    /// The role prompt (SPEC C3) shaping chat answers; prompts arrive with the chat feature.
    pub selected_role_prompt_id: Option<String>,
    pub language: Language,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_values_round_trip() {
        for p in [ModelProfile::Simple, ModelProfile::Complex] {
            assert_eq!(ModelProfile::parse(p.as_str()), Ok(p));
        }
        for l in [Language::En, Language::De, Language::Fr, Language::It, Language::Ru] {
            assert_eq!(Language::parse(l.as_str()), Ok(l));
        }
        assert!(Language::parse("es").is_err());
        assert!(ModelProfile::parse("fast").is_err());
    }
}
