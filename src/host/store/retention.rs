//! Retention: which complete sets a policy keeps, and why.
//!
//! Rules, as in restic's `forget` (a set is kept when any rule keeps it):
//! - `keep_last: N` — the N newest sets;
//! - `keep_within: "30d"` — every set made within that time before the newest set (measured
//!   from the newest set, not from now, so a stalled backup job never causes everything to be
//!   deleted);
//! - `keep_daily/weekly/monthly: N` — the newest set of each of the last N days / ISO weeks /
//!   months (UTC) that have sets.
//!
//! The newest complete set is always kept. Incomplete sets are not this module's business
//! (`cleanup_incomplete` removes them). A policy with no rule is refused: it would delete all
//! but one set.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};

use crate::error::{Error, Result};

/// Names the calendar bucket (day, ISO week, month) a time falls in.
type BucketOf = fn(&DateTime<Utc>) -> String;

/// A retention policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Keep the newest N.
    pub keep_last: Option<usize>,
    /// Keep everything within this time before the newest set.
    pub keep_within: Option<Duration>,
    /// Keep the newest set of each of the last N days with sets.
    pub keep_daily: Option<usize>,
    /// Keep the newest set of each of the last N ISO weeks with sets.
    pub keep_weekly: Option<usize>,
    /// Keep the newest set of each of the last N months with sets.
    pub keep_monthly: Option<usize>,
}

/// The verdict on one set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The set's creation time (identifies it among the inputs).
    pub created: DateTime<Utc>,
    /// Index of the set in the input.
    pub index: usize,
    /// Why it is kept; empty means it goes.
    pub reasons: Vec<String>,
}

impl Verdict {
    /// Whether the set stays.
    pub fn keep(&self) -> bool {
        !self.reasons.is_empty()
    }
}

impl Policy {
    /// Whether any rule is set.
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }

    /// Decides for each complete set (given by creation time, any order) whether it is kept.
    /// Verdicts come back newest first.
    pub fn apply(&self, created: &[DateTime<Utc>]) -> Result<Vec<Verdict>> {
        if self.is_empty() {
            return Err(Error::usage(
                "a retention policy needs at least one rule: keep_last, keep_within, keep_daily, keep_weekly or keep_monthly",
            ));
        }
        let mut verdicts: Vec<Verdict> = created
            .iter()
            .enumerate()
            .map(|(index, c)| Verdict {
                created: *c,
                index,
                reasons: Vec::new(),
            })
            .collect();
        verdicts.sort_by_key(|v| std::cmp::Reverse(v.created));
        let Some(newest) = verdicts.first().map(|v| v.created) else {
            return Ok(verdicts);
        };
        verdicts[0].reasons.push("newest complete set".into());
        if let Some(n) = self.keep_last {
            for v in verdicts.iter_mut().take(n) {
                v.reasons.push(format!("keep_last {n}"));
            }
        }
        if let Some(within) = self.keep_within {
            let limit =
                newest - chrono::Duration::from_std(within).unwrap_or(chrono::Duration::MAX);
            for v in verdicts.iter_mut().filter(|v| v.created >= limit) {
                v.reasons.push(format!(
                    "keep_within {}",
                    humantime::format_duration(within)
                ));
            }
        }
        let buckets: [(&str, Option<usize>, BucketOf); 3] = [
            ("keep_daily", self.keep_daily, |t| {
                t.format("%Y-%m-%d").to_string()
            }),
            ("keep_weekly", self.keep_weekly, |t| {
                let w = t.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }),
            ("keep_monthly", self.keep_monthly, |t| {
                t.format("%Y-%m").to_string()
            }),
        ];
        for (rule, count, bucket_of) in buckets {
            let Some(n) = count else { continue };
            // Newest first, so the first set seen in a bucket is that bucket's newest.
            let mut seen: BTreeMap<String, ()> = BTreeMap::new();
            for v in verdicts.iter_mut() {
                if seen.len() >= n {
                    break;
                }
                let bucket = bucket_of(&v.created);
                if seen.insert(bucket.clone(), ()).is_none() {
                    v.reasons.push(format!("{rule} {n} ({bucket})"));
                }
            }
        }
        Ok(verdicts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days_ago(n: i64) -> DateTime<Utc> {
        "2026-12-04T02:00:00Z".parse::<DateTime<Utc>>().unwrap() - chrono::Duration::days(n)
    }

    #[test]
    fn keep_within_30_days_of_45_daily_sets_deletes_the_older_ones() {
        let sets: Vec<_> = (0..45).map(days_ago).collect();
        let policy = Policy {
            keep_within: Some(Duration::from_secs(30 * 86400)),
            ..Default::default()
        };
        let verdicts = policy.apply(&sets).unwrap();
        let kept = verdicts.iter().filter(|v| v.keep()).count();
        assert_eq!(kept, 31, "day 0 through day 30");
        assert!(verdicts
            .iter()
            .filter(|v| !v.keep())
            .all(|v| v.created < days_ago(30)));
    }

    #[test]
    fn the_newest_set_is_always_kept_and_reasons_are_given() {
        let sets = vec![days_ago(100), days_ago(200)];
        let policy = Policy {
            keep_within: Some(Duration::from_secs(86400)),
            ..Default::default()
        };
        let verdicts = policy.apply(&sets).unwrap();
        assert!(verdicts[0].keep());
        assert!(verdicts[0].reasons.iter().any(|r| r.contains("newest")));
        assert!(!verdicts[1].keep());
    }

    #[test]
    fn daily_weekly_monthly_buckets_keep_the_newest_of_each() {
        let mut sets: Vec<_> = (0..60).map(days_ago).collect();
        sets.push(days_ago(0) - chrono::Duration::hours(1)); // a second set on day 0
        let policy = Policy {
            keep_daily: Some(3),
            keep_weekly: Some(2),
            keep_monthly: Some(2),
            ..Default::default()
        };
        let verdicts = policy.apply(&sets).unwrap();
        let kept: Vec<_> = verdicts.iter().filter(|v| v.keep()).collect();
        // 3 days + the newest of last week (other than this week's, already kept) + last month's.
        assert!(kept.len() >= 4 && kept.len() <= 6, "{kept:?}");
        let second_today = verdicts
            .iter()
            .find(|v| v.created == days_ago(0) - chrono::Duration::hours(1))
            .unwrap();
        assert!(!second_today.keep(), "only the newest of a day is kept");
    }

    #[test]
    fn an_empty_policy_is_refused() {
        assert!(Policy::default().apply(&[days_ago(1)]).is_err());
    }
}
