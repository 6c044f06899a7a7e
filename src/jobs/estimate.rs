//! The honest estimate on the progress message: the median duration of recent generations.
//!
//! Kept in memory (seeded once at start-up from the database, then fed by this instance's
//! completions), so showing an estimate costs no query.

use std::{collections::VecDeque, sync::Mutex};

use entity::generation;

use crate::domain::GenerationStatus;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// How many recent durations the median is taken over.
const WINDOW: usize = 51;

#[derive(Debug, Default)]
pub struct Estimate {
    recent: Mutex<VecDeque<u64>>,
}

impl Estimate {
    /// Seeds from the last completed generations.
    pub async fn load<C: ConnectionTrait>(&self, db: &C) -> Result<(), DbErr> {
        let rows = generation::Entity::find()
            .filter(generation::Column::Status.eq(GenerationStatus::Completed))
            .order_by_desc(generation::Column::Id)
            .limit(WINDOW as u64)
            .all(db)
            .await?;
        for row in rows.iter().rev() {
            if let Some(done) = row.completed_at {
                self.record((done - row.created_at).num_seconds());
            }
        }
        Ok(())
    }

    /// Adds one finished generation's duration in seconds.
    pub fn record(&self, secs: i64) {
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == WINDOW {
            recent.pop_front();
        }
        recent.push_back(u64::try_from(secs).unwrap_or(0));
    }

    /// The median, or `None` before anything finished.
    #[must_use]
    pub fn median(&self) -> Option<u64> {
        let recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut sorted: Vec<u64> = recent.iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().map(|s| s.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::Estimate;

    #[test]
    fn median_of_a_sliding_window() {
        let e = Estimate::default();
        assert_eq!(e.median(), None);
        for s in [10, 50, 20] {
            e.record(s);
        }
        assert_eq!(e.median(), Some(20));
        for _ in 0..100 {
            e.record(5);
        }
        assert_eq!(e.median(), Some(5));
        e.record(-3);
        assert_eq!(e.median(), Some(5));
    }
}
