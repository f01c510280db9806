//! `limit`/`marker` pagination with a `next` link, capped by a server maximum,
//! and ordering by `sort_key`/`sort_dir` pairs.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::fault::ApiError;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub marker: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Page {
    pub limit: usize,
    pub marker: Option<String>,
}

impl PageQuery {
    /// Validates the query; `max` caps the page size.
    pub fn page(&self, max: usize) -> Result<Page, ApiError> {
        let limit = match &self.limit {
            None => max,
            Some(s) => {
                let n: i64 = s.parse().map_err(|_| {
                    ApiError::bad_request(format!("Invalid limit {s:?}: it must be a non-negative integer."))
                })?;
                if n < 0 {
                    return Err(ApiError::bad_request(format!(
                        "Invalid limit {n}: it must be a non-negative integer."
                    )));
                }
                (n as usize).min(max)
            }
        };
        Ok(Page { limit, marker: self.marker.clone() })
    }
}

/// The `links` list of a page: a `next` link when the page is full.
pub fn links(self_url: &str, page: &Page, returned: usize, last_id: Option<&str>) -> Value {
    let mut links = vec![json!({"rel": "self", "href": self_url})];
    if returned >= page.limit && page.limit > 0 {
        if let Some(last) = last_id {
            let base = self_url.split('?').next().unwrap_or(self_url);
            let mut q: Vec<(String, String)> = self_url
                .split_once('?')
                .map(|(_, q)| {
                    q.split('&')
                        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
                        .filter(|(k, _)| k != "marker" && k != "limit")
                        .collect()
                })
                .unwrap_or_default();
            q.push(("limit".into(), page.limit.to_string()));
            q.push(("marker".into(), last.to_string()));
            let qs: Vec<String> = q.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            links.push(json!({"rel": "next", "href": format!("{base}?{}", qs.join("&"))}));
        }
    }
    Value::Array(links)
}

/// Orders `a` and `b` by each `(key, ascending)` in turn, comparing the
/// values `value` gives for the key; the first key that tells them apart wins.
pub fn compare_by_keys<T, V: Ord>(
    a: &T,
    b: &T,
    keys: &[(String, bool)],
    value: impl Fn(&T, &str) -> V,
) -> std::cmp::Ordering {
    for (k, asc) in keys {
        let o = value(a, k).cmp(&value(b, k));
        let o = if *asc { o } else { o.reverse() };
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_only_when_full() {
        let p = PageQuery { limit: Some("2".into()), marker: None }.page(1000).unwrap();
        let l = links("http://x/v2/images?name=a", &p, 2, Some("id2"));
        assert_eq!(l[1]["href"], "http://x/v2/images?name=a&limit=2&marker=id2");
        let l = links("http://x/v2/images", &p, 1, Some("id1"));
        assert_eq!(l.as_array().unwrap().len(), 1);
        assert!(PageQuery { limit: Some("-1".into()), marker: None }.page(10).is_err());
        assert_eq!(PageQuery { limit: Some("50".into()), marker: None }.page(10).unwrap().limit, 10);
    }

    #[test]
    fn compare_by_keys_takes_the_first_key_that_differs() {
        let rows = [("b", 1), ("a", 2), ("a", 1)];
        let value = |r: &(&str, i32), k: &str| if k == "name" { (r.0.to_string(), 0) } else { (String::new(), r.1) };
        let mut sorted = rows.to_vec();
        sorted.sort_by(|a, b| compare_by_keys(a, b, &[("name".into(), true), ("n".into(), false)], value));
        assert_eq!(sorted, [("a", 2), ("a", 1), ("b", 1)]);
        sorted.sort_by(|a, b| compare_by_keys(a, b, &[("n".into(), true), ("name".into(), false)], value));
        assert_eq!(sorted, [("b", 1), ("a", 1), ("a", 2)]);
        assert_eq!(compare_by_keys(&rows[0], &rows[0], &[("name".into(), true)], value), std::cmp::Ordering::Equal);
    }
}
