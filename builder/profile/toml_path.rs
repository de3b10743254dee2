//! Which key of a TOML document a byte offset falls in: how an error in a site's expanded host profile (text
//! forja wrote) is traced back to the key, and from there to the line of the site file that set it.

use super::load::{FieldPath, Seg};

/// The path of the innermost key or value at byte `offset` of `text` (a TOML document).
pub fn path_at(text: &str, offset: usize) -> FieldPath {
    fn within(span: Option<std::ops::Range<usize>>, off: usize) -> bool {
        span.is_some_and(|s| s.start <= off && off < s.end.max(s.start + 1))
    }
    fn table_like(t: &dyn toml_edit::TableLike, off: usize, path: &mut Vec<Seg>) -> bool {
        for (k, item) in t.iter() {
            path.push(Seg::Key(k.to_owned()));
            if within(t.key(k).and_then(|k| k.span()), off) || item_at(item, off, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    fn value_at(v: &toml_edit::Value, off: usize, path: &mut Vec<Seg>) -> bool {
        match v {
            toml_edit::Value::InlineTable(t) => table_like(t, off, path) || within(v.span(), off),
            toml_edit::Value::Array(a) => {
                for (j, x) in a.iter().enumerate() {
                    path.push(Seg::Index(j));
                    if value_at(x, off, path) {
                        return true;
                    }
                    path.pop();
                }
                within(v.span(), off)
            }
            _ => within(v.span(), off),
        }
    }
    fn item_at(item: &toml_edit::Item, off: usize, path: &mut Vec<Seg>) -> bool {
        match item {
            toml_edit::Item::Value(v) => value_at(v, off, path),
            toml_edit::Item::Table(t) => table_like(t, off, path) || within(t.span(), off),
            toml_edit::Item::ArrayOfTables(a) => {
                for (j, t) in a.iter().enumerate() {
                    path.push(Seg::Index(j));
                    if table_like(t, off, path) || within(t.span(), off) {
                        return true;
                    }
                    path.pop();
                }
                false
            }
            toml_edit::Item::None => false,
        }
    }
    let Ok(doc) = toml_edit::Document::parse(text) else {
        return FieldPath::default();
    };
    let mut p = Vec::new();
    if item_at(doc.as_item(), offset, &mut p) {
        FieldPath(p)
    } else {
        FieldPath::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_path_at_an_offset() {
        let text = "[a]\nx = 1\n[[a.b]]\ny = 2\n[[a.b]]\ny = { q = 3 }\n";
        let off = text.find("q = 3").unwrap() + 4;
        assert_eq!(path_at(text, off).to_string(), "a.b[1].y.q");
        let off = text.find("x = 1").unwrap();
        assert_eq!(path_at(text, off).to_string(), "a.x");
    }
}
