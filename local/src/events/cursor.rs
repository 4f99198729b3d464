//! Where a stream poller is in one shard, and how it finds its place again when the shard's
//! history changes under it.
//!
//! The emulator does not keep a stream append-only: a failed `TransactWriteItems` puts back a copy
//! of the whole table taken before the transaction, stream included. Records written meanwhile
//! (by the failed transaction itself or by concurrent writers) vanish, and their sequence numbers
//! are handed out again to later, different records; iterators taken before the failure keep
//! reading the discarded copy and never return another record. So the poller never trusts an old
//! iterator: each read starts from the last record it consumed (`AT_SEQUENCE_NUMBER`), checks that
//! this record is still there with the same event id, and when it is not, walks back through the
//! records it consumed before until it finds one both histories share. Event ids of everything
//! consumed are remembered, so what was delivered once is never delivered again.

use std::collections::{HashSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Consumed positions kept to find a shared point after the history changed.
pub const TRAIL_LEN: usize = 512;

/// Event ids remembered so that nothing is delivered twice (oldest forgotten first).
pub const REMEMBERED_IDS: usize = 200_000;

/// One record's place in a shard: its sequence number and its event id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub sequence: String,
    pub event_id: String,
}

impl Position {
    /// The position of a record in Lambda's JSON shape (`eventID`, `dynamodb.SequenceNumber`);
    /// `None` without a sequence number.
    pub fn of(record: &Value) -> Option<Position> {
        let sequence = record["dynamodb"]["SequenceNumber"].as_str()?.to_string();
        let event_id = record["eventID"]
            .as_str()
            .map_or_else(|| sequence.clone(), str::to_string);
        Some(Position { sequence, event_id })
    }
}

/// Where the next read of a shard starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// Nothing consumed yet (or no shared point found): the oldest record.
    TrimHorizon,
    /// At the last consumed record, which the read must return first.
    At(String),
}

/// What to do with one record of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// New: hand it to the function (if the filter lets it through) and remember it.
    Deliver,
    /// Consumed before (read again after a rewind): remember its place, deliver nothing.
    Skip,
}

/// A page read from [`ShardCursor::start`] does not begin with the last consumed record: the
/// shard's history changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diverged {
    /// The record consumed last.
    pub expected: Position,
    /// What the shard holds at its sequence number now, if anything.
    pub found: Option<Position>,
}

/// A poller's place in one shard.
#[derive(Debug, Default, Clone)]
pub struct ShardCursor {
    /// Positions consumed, oldest first, as the shard held them when read.
    trail: VecDeque<Position>,
    /// Event ids of every record consumed (bounded by [`REMEMBERED_IDS`]).
    ids: HashSet<String>,
    id_order: VecDeque<String>,
}

impl ShardCursor {
    /// A cursor resuming from a saved trail (its ids count as consumed).
    pub fn resume(trail: Vec<Position>) -> ShardCursor {
        let mut cursor = ShardCursor::default();
        for position in trail {
            cursor.consume(position);
        }
        cursor
    }

    /// The trail to save, oldest first.
    pub fn trail(&self) -> Vec<Position> {
        self.trail.iter().cloned().collect()
    }

    /// The record consumed last.
    pub fn last(&self) -> Option<&Position> {
        self.trail.back()
    }

    /// Where the next read starts.
    pub fn start(&self) -> Start {
        self.last()
            .map_or(Start::TrimHorizon, |p| Start::At(p.sequence.clone()))
    }

    /// Whether a record with this event id was consumed.
    pub fn seen(&self, event_id: &str) -> bool {
        self.ids.contains(event_id)
    }

    /// What to do with each record of a page read from [`Self::start`], in order. When the
    /// cursor has a last record, the page must begin with it (that record gets no step).
    ///
    /// # Errors
    /// [`Diverged`] when it does not: the records of the page cannot be trusted to follow what
    /// was consumed.
    pub fn plan(&self, page: &[Position]) -> Result<Vec<(usize, Step)>, Diverged> {
        let skip = match self.last() {
            Some(last) if page.first() == Some(last) => 1,
            Some(last) => {
                return Err(Diverged {
                    expected: last.clone(),
                    found: page.first().cloned(),
                });
            }
            None => 0,
        };
        Ok(page
            .iter()
            .enumerate()
            .skip(skip)
            .map(|(i, p)| {
                let step = if self.seen(&p.event_id) {
                    Step::Skip
                } else {
                    Step::Deliver
                };
                (i, step)
            })
            .collect())
    }

    /// Records a record as consumed (delivered, filtered out or given up on).
    pub fn consume(&mut self, position: Position) {
        if self.ids.insert(position.event_id.clone()) {
            self.id_order.push_back(position.event_id.clone());
            if self.id_order.len() > REMEMBERED_IDS
                && let Some(old) = self.id_order.pop_front()
            {
                self.ids.remove(&old);
            }
        }
        self.trail.push_back(position);
        if self.trail.len() > TRAIL_LEN {
            self.trail.pop_front();
        }
    }

    /// Trail entries to check, newest first, after the history changed: going back 1, 2, 4, 8…
    /// records from the last one (which is known not to match), then the oldest.
    pub fn probes(&self) -> Vec<usize> {
        let len = self.trail.len();
        let mut out = Vec::new();
        let mut back = 1;
        while back < len {
            out.push(len - 1 - back);
            back *= 2;
        }
        if len > 1 && out.last() != Some(&0) {
            out.push(0);
        }
        out
    }

    /// The trail entry at `index` (oldest is 0).
    pub fn position(&self, index: usize) -> Option<&Position> {
        self.trail.get(index)
    }

    /// Forgets the trail after `index`, which the shard still holds: reading resumes there.
    /// `None` forgets the whole trail: reading starts over from the oldest record. Event ids stay
    /// remembered either way, so nothing consumed is delivered again.
    pub fn rewind(&mut self, index: Option<usize>) {
        match index {
            Some(i) => self.trail.truncate(i + 1),
            None => self.trail.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(sequence: u32, id: &str) -> Position {
        Position {
            sequence: sequence.to_string(),
            event_id: id.to_string(),
        }
    }

    fn cursor_after(records: &[Position]) -> ShardCursor {
        let mut cursor = ShardCursor::default();
        for p in records {
            cursor.consume(p.clone());
        }
        cursor
    }

    #[test]
    fn a_fresh_cursor_reads_from_the_oldest_record_and_delivers_everything() {
        let cursor = ShardCursor::default();
        assert_eq!(cursor.start(), Start::TrimHorizon);
        assert_eq!(
            cursor.plan(&[pos(1, "a"), pos(2, "b")]),
            Ok(vec![(0, Step::Deliver), (1, Step::Deliver)])
        );
    }

    #[test]
    fn a_page_continuing_the_last_record_delivers_only_what_follows_it() {
        let cursor = cursor_after(&[pos(1, "a"), pos(2, "b")]);
        assert_eq!(cursor.start(), Start::At("2".into()));
        assert_eq!(cursor.plan(&[pos(2, "b")]), Ok(vec![]));
        assert_eq!(
            cursor.plan(&[pos(2, "b"), pos(3, "c")]),
            Ok(vec![(1, Step::Deliver)])
        );
    }

    #[test]
    fn a_reused_sequence_number_or_a_shorter_shard_is_a_divergence() {
        let cursor = cursor_after(&[pos(1, "a"), pos(2, "b")]);
        // The table was restored: sequence 2 now belongs to another record.
        assert_eq!(
            cursor.plan(&[pos(2, "x"), pos(3, "y")]),
            Err(Diverged {
                expected: pos(2, "b"),
                found: Some(pos(2, "x")),
            })
        );
        // The shard went back behind the last consumed record.
        assert_eq!(
            cursor.plan(&[]),
            Err(Diverged {
                expected: pos(2, "b"),
                found: None,
            })
        );
    }

    #[test]
    fn after_a_rewind_records_consumed_before_are_skipped_and_new_ones_delivered() {
        // Consumed a, b, then c and d, which a failed transaction took back with the table.
        let mut cursor = cursor_after(&[pos(1, "a"), pos(2, "b"), pos(3, "c"), pos(4, "d")]);
        let probes = cursor.probes();
        assert_eq!(probes, vec![2, 1, 0]);
        // The shard now holds a, b, e (3), f (4): probing entry 2 (c at 3) fails, entry 1 (b at
        // 2) matches.
        cursor.rewind(Some(1));
        assert_eq!(cursor.start(), Start::At("2".into()));
        assert_eq!(
            cursor.plan(&[pos(2, "b"), pos(3, "e"), pos(4, "f")]),
            Ok(vec![(1, Step::Deliver), (2, Step::Deliver)])
        );
        // Without any shared point, reading starts over and skips every id it knows.
        cursor.rewind(None);
        assert_eq!(cursor.start(), Start::TrimHorizon);
        assert_eq!(
            cursor.plan(&[pos(1, "a"), pos(2, "b"), pos(3, "e")]),
            Ok(vec![(0, Step::Skip), (1, Step::Skip), (2, Step::Deliver)])
        );
    }

    #[test]
    fn probes_go_back_exponentially_and_end_with_the_oldest_entry() {
        let records: Vec<Position> = (0..20).map(|i| pos(i, &format!("e{i}"))).collect();
        let cursor = cursor_after(&records);
        assert_eq!(cursor.probes(), vec![18, 17, 15, 11, 3, 0]);
        assert!(cursor_after(&records[..1]).probes().is_empty());
        assert_eq!(cursor_after(&records[..2]).probes(), vec![0]);
    }

    #[test]
    fn the_trail_and_the_remembered_ids_are_bounded() {
        let mut cursor = ShardCursor::default();
        for i in 0..(TRAIL_LEN as u32 + 10) {
            cursor.consume(pos(i, &format!("e{i}")));
        }
        assert_eq!(cursor.trail().len(), TRAIL_LEN);
        assert!(cursor.seen("e0"), "ids outlive the trail");
        let resumed = ShardCursor::resume(cursor.trail());
        assert_eq!(resumed.last(), cursor.last());
        assert!(resumed.seen(&format!("e{}", TRAIL_LEN + 9)));
    }

    #[test]
    fn positions_come_from_lambda_records() {
        let record = serde_json::json!({"eventID": "abc", "dynamodb": {"SequenceNumber": "42"}});
        assert_eq!(Position::of(&record), Some(pos(42, "abc")));
        let anonymous = serde_json::json!({"dynamodb": {"SequenceNumber": "7"}});
        assert_eq!(Position::of(&anonymous), Some(pos(7, "7")));
        assert_eq!(Position::of(&serde_json::json!({})), None);
    }
}
