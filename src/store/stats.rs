//! What /metrics shows of the store: file size, rows per table, open advisories by kind and
//! severity. Read at scrape time; counting every table's rows scans the big ones (the points of
//! a 15,000-series fleet are tens of millions), so the caller asks for rows only now and then.
//!
//! May use: rusqlite.

use super::{Sqlite, StoreError};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StoreStats {
    pub size_bytes: i64,
    /// (table, rows), when asked for.
    pub rows: Option<Vec<(String, i64)>>,
    /// (kind, severity, count) of open and acknowledged advisories.
    pub open: Vec<(String, String, i64)>,
}

impl Sqlite {
    pub fn stats(&self, count_rows: bool) -> Result<StoreStats, StoreError> {
        let c = &self.conn;
        let pages: i64 = c.query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |r| r.get(0),
        )?;
        // The write-ahead log is part of the store on disk until a checkpoint folds it in:
        // leaving it out under-reported a busy store by up to the WAL's size.
        let wal = std::fs::metadata(format!("{}-wal", self.location())).map_or(0, |m| m.len() as i64);
        let size_bytes = pages + wal;
        let mut open = vec![];
        let mut q = c.prepare(
            "SELECT kind, severity, COUNT(*) FROM advisories WHERE state IN ('open', 'acknowledged') GROUP BY kind, severity ORDER BY kind, severity",
        )?;
        for row in q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))? {
            open.push(row?);
        }
        let rows = if count_rows {
            let mut names = vec![];
            let mut q = c.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?;
            for n in q.query_map([], |r| r.get::<_, String>(0))? {
                names.push(n?);
            }
            let mut rows = vec![];
            for n in names {
                // Table names come from sqlite_schema, not from input; quoted all the same.
                let k: i64 = c.query_row(&format!("SELECT COUNT(*) FROM \"{}\"", n.replace('"', "\"\"")), [], |r| r.get(0))?;
                rows.push((n, k));
            }
            Some(rows)
        } else {
            None
        };
        Ok(StoreStats { size_bytes, rows, open })
    }
}
