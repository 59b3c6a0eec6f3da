//! Reading the host's own exposition back: the ops page's figures come from the same text
//! `GET /metrics` serves, so the page and Prometheus cannot disagree.

use std::collections::BTreeMap;

/// One sample: its metric name, labels and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name (`patchbay_requests_total`, `…_bucket`, …).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

impl Sample {
    /// A label's value (empty if absent).
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map(String::as_str).unwrap_or("")
    }
}

/// The samples of an exposition (comments and malformed lines are skipped).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    let mut labels = BTreeMap::new();
    let rest = if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let end;
        loop {
            // key
            let mut key = String::new();
            let mut c = chars.next()?;
            if c.1 == '}' {
                end = c.0;
                break;
            }
            if c.1 == ',' {
                c = chars.next()?;
            }
            while c.1 != '=' {
                key.push(c.1);
                c = chars.next()?;
            }
            if chars.next()?.1 != '"' {
                return None;
            }
            let mut value = String::new();
            loop {
                let (_, ch) = chars.next()?;
                match ch {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break,
                    other => value.push(other),
                }
            }
            labels.insert(key, value);
        }
        &body[end + 1..]
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The `q` quantile of one histogram series set (`(le, cumulative count)` pairs), interpolated
/// within the bucket as Prometheus's `histogram_quantile` does; `None` without observations.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let mut b: Vec<(f64, f64)> = buckets.to_vec();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    let total = b.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for (le, count) in b {
        if count >= rank {
            if le.is_infinite() {
                return Some(prev.0);
            }
            let in_bucket = count - prev.1;
            let frac = if in_bucket > 0.0 {
                (rank - prev.1) / in_bucket
            } else {
                0.0
            };
            return Some(prev.0 + (le - prev.0) * frac);
        }
        prev = (le, count);
    }
    Some(prev.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_samples_and_quantiles() {
        let text = "# HELP x y\nx_total{a=\"1\",b=\"q\\\"x\"} 3\nup 1\nh_bucket{le=\"+Inf\"} 4\nbroken{a=1} 2\n# EOF\n";
        let s = parse(text);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].name, "x_total");
        assert_eq!(s[0].label("b"), "q\"x");
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[2].value, f64::INFINITY.min(4.0));
        let q = quantile(0.5, &[(1.0, 2.0), (2.0, 4.0), (f64::INFINITY, 4.0)]).unwrap();
        assert!((q - 1.0).abs() < 1e-9);
        assert_eq!(quantile(0.9, &[(1.0, 0.0), (f64::INFINITY, 0.0)]), None);
    }
}
