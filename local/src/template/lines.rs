//! Finds the line of a mapping key in the template text (e.g. `Resources` → `ReportsCluster`),
//! since the YAML value tree keeps no positions. It follows block-style indentation, skips
//! comments, block scalars and list items, and is only used to make error messages precise.

/// 1-based line of the key reached by `path` (block mappings only), or `None`.
pub(crate) fn find_key_line(text: &str, path: &[&str]) -> Option<usize> {
    if path.is_empty() {
        return None;
    }
    // (indent, key) of the mappings enclosing the current line; list items push a "-" marker
    // so that keys inside lists never match a path of mapping keys.
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut block_scalar_indent: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let content = line.trim_start_matches(' ');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let mut indent = line.len() - content.len();
        if let Some(scalar_indent) = block_scalar_indent {
            if indent > scalar_indent {
                continue;
            }
            block_scalar_indent = None;
        }
        let mut content = content;
        let mut markers = Vec::new();
        while let Some(rest) = content
            .strip_prefix("- ")
            .or_else(|| if content == "-" { Some("") } else { None })
        {
            markers.push(indent);
            let trimmed = rest.trim_start_matches(' ');
            indent += 2 + (rest.len() - trimmed.len());
            content = trimmed;
        }
        let Some((key, value)) = split_key(content) else {
            if !markers.is_empty() {
                pop_to(&mut stack, markers[0]);
                stack.push((markers[0], "-".to_string()));
            }
            continue;
        };
        if let Some(&first) = markers.first() {
            pop_to(&mut stack, first);
            for marker in &markers {
                stack.push((*marker, "-".to_string()));
            }
        } else {
            pop_to(&mut stack, indent);
        }
        stack.push((indent, key));
        if is_block_scalar_header(value) {
            block_scalar_indent = Some(indent);
        }
        if stack.len() == path.len() && stack.iter().zip(path).all(|((_, k), p)| k == p) {
            return Some(index + 1);
        }
    }
    None
}

/// 1-based line of the first occurrence of `needle` (e.g. an unknown tag), or `None`.
pub(crate) fn find_text_line(text: &str, needle: &str) -> Option<usize> {
    text.lines()
        .position(|line| line.contains(needle))
        .map(|i| i + 1)
}

fn pop_to(stack: &mut Vec<(usize, String)>, indent: usize) {
    while stack.last().is_some_and(|(i, _)| *i >= indent) {
        stack.pop();
    }
}

/// Splits `key: value` (plain or quoted key); `None` when the line holds no mapping key.
fn split_key(content: &str) -> Option<(String, &str)> {
    let first = content.chars().next()?;
    if first == '"' || first == '\'' {
        let rest = &content[1..];
        let end = rest.find(first)?;
        let after = rest[end + 1..].trim_start();
        let value = after.strip_prefix(':')?;
        if !(value.is_empty() || value.starts_with(' ')) {
            return None;
        }
        return Some((rest[..end].to_string(), value.trim()));
    }
    if matches!(first, '{' | '[' | '!' | '&' | '*' | '|' | '>') {
        return None;
    }
    let mut search = 0;
    while let Some(pos) = content[search..].find(':') {
        let at = search + pos;
        let after = &content[at + 1..];
        if after.is_empty() || after.starts_with(' ') {
            let key = content[..at].trim_end();
            if key.contains(" #") {
                return None;
            }
            return Some((key.to_string(), after.trim()));
        }
        search = at + 1;
    }
    None
}

/// `|`, `>-`, `|+2`, optionally followed by a comment.
fn is_block_scalar_header(value: &str) -> bool {
    let value = value.split(" #").next().unwrap_or("").trim();
    let mut chars = value.chars();
    matches!(chars.next(), Some('|' | '>')) && chars.all(|c| matches!(c, '-' | '+' | '0'..='9'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
Parameters:
  Stage:
    Type: String
Resources:
  # a comment
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      Description: >-
        Resources:
          Fake: 1
      KeySchema:
        - AttributeName: pk
          KeyType: HASH
  \"Quoted\":
    Type: AWS::SNS::Topic
  Function:
    Properties:
      Events:
        Ping:
          Type: Schedule
";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(find_key_line(TEXT, &["Resources"]), Some(4));
        assert_eq!(find_key_line(TEXT, &["Resources", "Table"]), Some(6));
        assert_eq!(find_key_line(TEXT, &["Resources", "Quoted"]), Some(15));
        assert_eq!(
            find_key_line(
                TEXT,
                &["Resources", "Function", "Properties", "Events", "Ping"]
            ),
            Some(20)
        );
    }

    #[test]
    fn ignores_block_scalars_lists_and_other_sections() {
        assert_eq!(find_key_line(TEXT, &["Resources", "Fake"]), None);
        assert_eq!(find_key_line(TEXT, &["Resources", "Stage"]), None);
        assert_eq!(
            find_key_line(TEXT, &["Resources", "Table", "Properties", "KeyType"]),
            None
        );
    }

    #[test]
    fn finds_text() {
        assert_eq!(find_text_line(TEXT, "Schedule"), Some(21));
        assert_eq!(find_text_line(TEXT, "!Nope"), None);
    }
}
