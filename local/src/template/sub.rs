//! The `Fn::Sub` string syntax: `${Name}`, `${Resource.Attribute}`, and `${!Literal}` for a
//! literal `${Literal}`.

/// One piece of a `Fn::Sub` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    /// Literal text.
    Text(String),
    /// A variable: a parameter, pseudo parameter, resource, `Resource.Attribute`, or a key of
    /// the variable map.
    Var(String),
}

/// Splits a `Fn::Sub` string into text and variables.
pub(crate) fn parse(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        text.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        if let Some(literal) = after.strip_prefix('!') {
            text.push_str("${");
            rest = literal;
            continue;
        }
        let Some(end) = after.find('}') else {
            return Err(format!("`${{` without a closing `}}` in {template:?}"));
        };
        let name = after[..end].trim();
        if name.is_empty() {
            return Err(format!("empty `${{}}` in {template:?}"));
        }
        if !text.is_empty() {
            parts.push(Part::Text(std::mem::take(&mut text)));
        }
        parts.push(Part::Var(name.to_string()));
        rest = &after[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_variables_and_text() {
        assert_eq!(
            parse("arn:${AWS::Partition}:x/${Table.Arn}/index/*").expect("parses"),
            vec![
                Part::Text("arn:".into()),
                Part::Var("AWS::Partition".into()),
                Part::Text(":x/".into()),
                Part::Var("Table.Arn".into()),
                Part::Text("/index/*".into()),
            ]
        );
    }

    #[test]
    fn keeps_escaped_literals() {
        assert_eq!(
            parse("a ${!Literal} b").expect("parses"),
            vec![Part::Text("a ${Literal} b".into())]
        );
    }

    #[test]
    fn rejects_unclosed_variables() {
        assert!(parse("x ${Oops").is_err());
    }
}
