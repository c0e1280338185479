//! Role prompts (SPEC C3) are named in several languages; a user sees the name in their own.

/// The name of a role for a user speaking `language`: the name in that language, else the
/// English one, else the first there is.
pub fn name_in<'a>(names: &'a [(String, String)], language: &str) -> Option<&'a str> {
    let find = |lang: &str| names.iter().find(|(l, n)| l == lang && !n.trim().is_empty()).map(|(_, n)| n.as_str());
    find(language)
        .or_else(|| find("en"))
        .or_else(|| names.iter().map(|(_, n)| n.as_str()).find(|n| !n.trim().is_empty()))
}

/// The languages role names may be given in (the product's languages).
pub const LANGUAGES: &[&str] = &["en", "de", "fr", "it", "ru"];

#[cfg(test)]
mod tests {
    use super::*;

    fn names(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(l, n)| ((*l).to_owned(), (*n).to_owned())).collect()
    }

    #[test]
    fn the_users_language_then_english_then_any() {
        let n = names(&[("en", "Engineer"), ("ru", "Инженер"), ("de", "Ingenieur")]);
        assert_eq!(name_in(&n, "ru"), Some("Инженер"));
        assert_eq!(name_in(&n, "fr"), Some("Engineer"));
        let only = names(&[("it", "Ingegnere")]);
        assert_eq!(name_in(&only, "de"), Some("Ingegnere"));
        assert_eq!(name_in(&names(&[("de", " ")]), "de"), None);
    }
}
