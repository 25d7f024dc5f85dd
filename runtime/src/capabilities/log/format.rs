//! A guest's log record as one unambiguous line: fields quoted where
//! needed, every control character escaped.

/// `k=v` pairs separated by spaces; values with spaces, quotes or line
/// breaks are quoted (and escaped) so that a record stays one unambiguous line.
pub(super) fn format_fields(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(key, value)| format!("{}={}", quote_if_needed(key), quote_if_needed(value)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote_if_needed(text: &str) -> String {
    if text.is_empty() || text.contains([' ', '"', '=']) || text.contains(char::is_control) {
        format!("{text:?}")
    } else {
        text.to_string()
    }
}

/// `text` with every control character escaped (`\n`, `\u{1b}`...).
pub(crate) fn escape_controls(text: &str) -> String {
    if !text.contains(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_one_line_with_quoted_values_where_needed() {
        let fields = vec![
            ("user".to_string(), "42".to_string()),
            ("note".to_string(), "two words".to_string()),
            ("empty".to_string(), String::new()),
            ("forged\nkey".to_string(), "a\nb".to_string()),
        ];
        assert_eq!(
            format_fields(&fields),
            r#"user=42 note="two words" empty="" "forged\nkey"="a\nb""#
        );
    }

    #[test]
    fn every_control_character_is_escaped() {
        assert_eq!(
            escape_controls("a\nb\rc\u{1b}[31md\u{7}"),
            "a\\nb\\rc\\u{1b}[31md\\u{7}"
        );
        assert_eq!(quote_if_needed("x\u{1b}y"), r#""x\u{1b}y""#);
    }
}
