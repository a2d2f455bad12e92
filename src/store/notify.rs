//! Delivery's state: the outbox (advisory changes, written by the cycle's transaction),
//! deliveries waiting in their group, the notification log (one row per message per
//! receiver, or per suppressed notice), what each receiver was last told of each advisory,
//! when each group last went out, and silences.
//!
//! Each step of the notifier is one transaction: routing marks events routed and creates
//! their deliveries; sealing a group turns its deliveries into one pending notification with a
//! fixed Message-ID **before** anything is sent; recording a send marks it sent and updates
//! the log. A crash between sealing and recording sends the message again, with the same
//! Message-ID: at most one duplicate.
//!
//! May use: domain, rusqlite.

use super::{Sqlite, StoreError};
use crate::domain::*;
use rusqlite::{OptionalExtension, params};
use std::collections::HashMap;

/// An outbox row not yet routed.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxEvent {
    pub id: i64,
    pub notice: Notice,
}

/// What a receiver was last sent of one advisory.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    pub event: NoticeEvent,
    pub severity: Severity,
    pub sent_at: Ts,
}

/// What routing decided for one notice and one receiver.
#[derive(Clone, Debug, PartialEq)]
pub enum Routed {
    /// Wait in the receiver's group.
    Deliver {
        receiver: String,
        group_key: String,
        group_wait_s: i64,
        group_interval_s: i64,
        notice: Notice,
    },
    /// Not sent, and why (silenced, a duplicate, resolved before it was ever sent).
    Suppress {
        receiver: String,
        group_key: String,
        reason: String,
        notice: Notice,
    },
}

/// A group of deliveries waiting for one receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct WaitingGroup {
    pub receiver: String,
    pub group_key: String,
    /// When its oldest delivery was routed.
    pub first_at: Ts,
    pub group_wait_s: i64,
    pub group_interval_s: i64,
    /// When a message of this group was last sealed, if ever.
    pub last_sealed: Option<Ts>,
    pub count: u64,
}

impl WaitingGroup {
    /// When the group may go out: group_wait after its first delivery, and group_interval
    /// after the group's previous message.
    pub fn due_at(&self) -> Ts {
        let wait = self.first_at + self.group_wait_s;
        match self.last_sealed {
            Some(t) => wait.max(t + self.group_interval_s),
            None => wait,
        }
    }
}

/// A notification: a sealed message for one receiver, in the log.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Notification {
    pub id: i64,
    pub receiver: String,
    pub group_key: String,
    /// pending, sent, failed, suppressed (and `waiting` for deliveries still in their group).
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub message_id: String,
    pub created_at: Ts,
    pub attempts: i64,
    pub next_attempt_at: Ts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Ts>,
    pub items: Vec<Notice>,
}

/// A silence: notices matching every matcher are not sent until `ends_at`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Silence {
    pub id: i64,
    /// (label, pattern): labels kind, severity, scope, resource, service, fingerprint or
    /// `tag:NAME`; `*` in a pattern matches any run of characters.
    pub matchers: Vec<(String, String)>,
    pub comment: String,
    pub created_by: String,
    pub created_at: Ts,
    pub ends_at: Ts,
}

/// What the notifier needs of a store.
pub trait Outbox: Send {
    /// Outbox rows not yet routed, oldest first.
    fn unrouted(&self, limit: usize) -> Result<Vec<OutboxEvent>, StoreError>;
    /// What each (receiver, fingerprint) was last sent.
    fn notify_log(&self, keys: &[(String, String)]) -> Result<HashMap<(String, String), LogEntry>, StoreError>;
    /// Silences in force at `now` (all of them, expired too, with `all`).
    fn silences(&self, now: Ts, all: bool) -> Result<Vec<Silence>, StoreError>;
    /// Records routing in one transaction: the events are marked routed, deliveries wait in
    /// their groups (a newer notice of an advisory replaces an older one still waiting for the
    /// same receiver), suppressions go to the log.
    fn route(&mut self, event_ids: &[i64], outcomes: &[Routed], now: Ts) -> Result<(), StoreError>;
    /// Groups with deliveries waiting.
    fn waiting_groups(&self) -> Result<Vec<WaitingGroup>, StoreError>;
    /// Turns a group's waiting deliveries into one pending notification; returns its id.
    fn seal_group(&mut self, receiver: &str, group_key: &str, now: Ts) -> Result<Option<i64>, StoreError>;
    /// Pending notifications, oldest first.
    fn pending(&self, receiver: Option<&str>) -> Result<Vec<Notification>, StoreError>;
    /// The receivers that have a notification waiting to be sent.
    fn pending_receivers(&self) -> Result<Vec<String>, StoreError>;
    /// The store's file, for error messages.
    fn location(&self) -> String;
    /// A pending notification as it should go out now, or None when nothing of it should:
    /// an item superseded by a newer notice of its advisory to the same receiver (waiting in
    /// a group, or in any later notification: pending, sent or suppressed; in another group
    /// too) is dropped (after an outage the receiver
    /// gets the current state once, not a burst of repeats, nor an OPENED whose RESOLVED is
    /// queued behind it); a RESOLVED is dropped when no firing notice of it ever reached the
    /// receiver (what it never saw open needs no closing). Applied notices are each news and
    /// kept. A notification left empty is marked suppressed with why. Called right before
    /// each attempt by the receiver's one delivery task.
    fn current(&mut self, id: i64) -> Result<Option<Notification>, StoreError>;
    /// The peer accepted it: sent, and the receiver's log updated for every item (with the
    /// time each notice was written, which the repeat interval counts from).
    fn mark_sent(&mut self, id: i64, now: Ts) -> Result<(), StoreError>;
    /// It failed and will be tried again at `next_at`.
    fn mark_retry(&mut self, id: i64, reason: &str, next_at: Ts) -> Result<(), StoreError>;
    /// It failed for good (a 4xx other than 429, a rejected recipient).
    fn mark_failed(&mut self, id: i64, reason: &str, now: Ts) -> Result<(), StoreError>;
}

fn decode_notice(body: &str) -> Result<Notice, StoreError> {
    serde_json::from_str(body).map_err(|source| StoreError::Encode { what: "notice", source })
}

fn encode<T: serde::Serialize>(what: &'static str, v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|source| StoreError::Encode { what, source })
}

/// A Message-ID fixed when the notification is sealed: a resend carries the same one.
fn message_id(id: i64, receiver: &str, group_key: &str, now: Ts) -> String {
    format!(
        "<headroom.{id}.{}@headroom.invalid>",
        fnv64_hex(&[receiver.as_bytes(), group_key.as_bytes(), now.to_string().as_bytes()])
    )
}

impl Outbox for Sqlite {
    fn unrouted(&self, limit: usize) -> Result<Vec<OutboxEvent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, body FROM outbox WHERE routed_at IS NULL ORDER BY id LIMIT ?1")?;
        let rows: Vec<(i64, String)> = stmt
            .query_map(params![limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, body)| {
                Ok(OutboxEvent {
                    id,
                    notice: decode_notice(&body)?,
                })
            })
            .collect()
    }

    fn notify_log(&self, keys: &[(String, String)]) -> Result<HashMap<(String, String), LogEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT event, severity, sent_at FROM notify_log WHERE receiver = ?1 AND fingerprint = ?2")?;
        let mut out = HashMap::new();
        for k in keys {
            if out.contains_key(k) {
                continue;
            }
            let row: Option<(String, String, i64)> = stmt
                .query_row(params![k.0, k.1], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            if let Some((event, severity, sent_at)) = row
                && let (Some(event), Ok(severity)) = (NoticeEvent::parse(&event), severity.parse())
            {
                out.insert(k.clone(), LogEntry { event, severity, sent_at });
            }
        }
        Ok(out)
    }

    fn silences(&self, now: Ts, all: bool) -> Result<Vec<Silence>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, matchers, comment, created_by, created_at, ends_at FROM silences WHERE ?2 OR ends_at > ?1 ORDER BY id",
        )?;
        let rows: Vec<(i64, String, String, String, i64, i64)> = stmt
            .query_map(params![now, all], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, m, comment, created_by, created_at, ends_at)| {
                Ok(Silence {
                    id,
                    matchers: serde_json::from_str(&m).map_err(|source| StoreError::Encode { what: "silence", source })?,
                    comment,
                    created_by,
                    created_at,
                    ends_at,
                })
            })
            .collect()
    }

    fn route(&mut self, event_ids: &[i64], outcomes: &[Routed], now: Ts) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut mark = tx.prepare_cached("UPDATE outbox SET routed_at = ?2 WHERE id = ?1")?;
            for id in event_ids {
                mark.execute(params![id, now])?;
            }
            let mut drop_older = tx.prepare_cached("DELETE FROM deliveries WHERE receiver = ?1 AND fingerprint = ?2")?;
            let mut put = tx.prepare_cached(
                "INSERT INTO deliveries (receiver, group_key, fingerprint, event_id, created_at, group_wait, group_interval, body)
                 VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?7)",
            )?;
            let mut log = tx.prepare_cached(
                "INSERT INTO notifications (receiver, group_key, state, reason, message_id, created_at, next_attempt_at, items)
                 VALUES (?1, ?2, 'suppressed', ?3, '', ?4, ?4, ?5)",
            )?;
            for o in outcomes {
                match o {
                    Routed::Deliver {
                        receiver,
                        group_key,
                        group_wait_s,
                        group_interval_s,
                        notice,
                    } => {
                        drop_older.execute(params![receiver, notice.advisory.fingerprint])?;
                        // The group's wait runs from when the cycle committed the change.
                        put.execute(params![
                            receiver,
                            group_key,
                            notice.advisory.fingerprint,
                            notice.at.min(now),
                            group_wait_s,
                            group_interval_s,
                            encode("notice", notice)?
                        ])?;
                    }
                    Routed::Suppress {
                        receiver,
                        group_key,
                        reason,
                        notice,
                    } => {
                        // A resolution that will not be sent cancels the opening still waiting.
                        if notice.event == NoticeEvent::Resolved {
                            drop_older.execute(params![receiver, notice.advisory.fingerprint])?;
                        }
                        log.execute(params![receiver, group_key, reason, now, encode("notice", &[notice])?])?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn waiting_groups(&self) -> Result<Vec<WaitingGroup>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.receiver, d.group_key, MIN(d.created_at), MIN(d.group_wait), MIN(d.group_interval), g.sealed_at, COUNT(*)
             FROM deliveries d LEFT JOIN group_log g ON g.receiver = d.receiver AND g.group_key = d.group_key
             GROUP BY d.receiver, d.group_key ORDER BY MIN(d.id)",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(WaitingGroup {
                receiver: r.get(0)?,
                group_key: r.get(1)?,
                first_at: r.get(2)?,
                group_wait_s: r.get(3)?,
                group_interval_s: r.get(4)?,
                last_sealed: r.get(5)?,
                count: r.get::<_, i64>(6)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn seal_group(&mut self, receiver: &str, group_key: &str, now: Ts) -> Result<Option<i64>, StoreError> {
        let tx = self.conn.transaction()?;
        let bodies: Vec<String> = {
            let mut stmt = tx.prepare_cached("SELECT body FROM deliveries WHERE receiver = ?1 AND group_key = ?2 ORDER BY id")?;
            stmt.query_map(params![receiver, group_key], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        if bodies.is_empty() {
            return Ok(None);
        }
        let items: Vec<Notice> = bodies.iter().map(|b| decode_notice(b)).collect::<Result<_, _>>()?;
        tx.execute(
            "INSERT INTO notifications (receiver, group_key, state, message_id, created_at, next_attempt_at, items)
             VALUES (?1, ?2, 'pending', '', ?3, ?3, ?4)",
            params![receiver, group_key, now, encode("notices", &items)?],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE notifications SET message_id = ?2 WHERE id = ?1",
            params![id, message_id(id, receiver, group_key, now)],
        )?;
        tx.execute(
            "DELETE FROM deliveries WHERE receiver = ?1 AND group_key = ?2",
            params![receiver, group_key],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO group_log (receiver, group_key, sealed_at) VALUES (?1, ?2, ?3)",
            params![receiver, group_key, now],
        )?;
        tx.commit()?;
        Ok(Some(id))
    }

    fn pending(&self, receiver: Option<&str>) -> Result<Vec<Notification>, StoreError> {
        self.notifications_where("state = 'pending'", true, usize::MAX, receiver)
    }

    fn location(&self) -> String {
        Sqlite::location(self)
    }

    fn pending_receivers(&self) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT DISTINCT receiver FROM notifications WHERE state = 'pending' ORDER BY receiver")?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn current(&mut self, id: i64) -> Result<Option<Notification>, StoreError> {
        let tx = self.conn.transaction()?;
        let row: Option<(String, String, String)> = tx
            .query_row("SELECT receiver, state, items FROM notifications WHERE id = ?1", params![id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        let Some((receiver, state, items)) = row else { return Ok(None) };
        if state != "pending" {
            return Ok(None);
        }
        let items: Vec<Notice> = serde_json::from_str(&items).map_err(|source| StoreError::Encode { what: "notices", source })?;
        let (mut keep, mut superseded, mut unseen) = (vec![], 0, 0);
        {
            let mut newer = tx.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM deliveries WHERE receiver = ?1 AND fingerprint = ?2)
                     OR EXISTS (SELECT 1 FROM notifications n, json_each(n.items) j
                                 WHERE n.receiver = ?1 AND n.id > ?3
                                   AND json_extract(j.value, '$.advisory.fingerprint') = ?2
                                   AND json_extract(j.value, '$.event') != 'applied')",
            )?;
            let mut logged = tx.prepare_cached("SELECT event FROM notify_log WHERE receiver = ?1 AND fingerprint = ?2")?;
            for n in items.iter() {
                let f = &n.advisory.fingerprint;
                if n.event != NoticeEvent::Applied && newer.query_row(params![receiver, f, id], |r| r.get::<_, bool>(0))? {
                    superseded += 1;
                    continue;
                }
                if n.event == NoticeEvent::Resolved {
                    let last: Option<String> = logged.query_row(params![receiver, f], |r| r.get(0)).optional()?;
                    if !last.and_then(|e| NoticeEvent::parse(&e)).is_some_and(NoticeEvent::firing) {
                        unseen += 1;
                        continue;
                    }
                }
                keep.push(n.clone());
            }
        }
        if keep.len() != items.len() {
            let why = format!(
                "{superseded} item(s) superseded by a newer notice of the same advisory, {unseen} resolution(s) of advisories this receiver was never told of"
            );
            if keep.is_empty() {
                tx.execute(
                    "UPDATE notifications SET state = 'suppressed', reason = ?2 WHERE id = ?1",
                    params![id, format!("nothing left to send: {why}")],
                )?;
            } else {
                tx.execute(
                    "UPDATE notifications SET items = ?2 WHERE id = ?1",
                    params![id, encode("notices", &keep)?],
                )?;
            }
        }
        tx.commit()?;
        if keep.is_empty() {
            return Ok(None);
        }
        Ok(self
            .notifications_where("state = 'pending'", true, usize::MAX, Some(&receiver))?
            .into_iter()
            .find(|n| n.id == id))
    }

    fn mark_sent(&mut self, id: i64, now: Ts) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let row: Option<(String, String)> = tx
            .query_row("SELECT receiver, items FROM notifications WHERE id = ?1", params![id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        if let Some((receiver, items)) = row {
            let items: Vec<Notice> = serde_json::from_str(&items).map_err(|source| StoreError::Encode { what: "notices", source })?;
            tx.execute(
                "UPDATE notifications SET state = 'sent', sent_at = ?2, attempts = attempts + 1, reason = NULL WHERE id = ?1",
                params![id, now],
            )?;
            let mut log = tx.prepare_cached(
                "INSERT OR REPLACE INTO notify_log (receiver, fingerprint, event, severity, sent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            // The log's time is when the notice was written, not sent: the cycle writes the
            // next repeat `repeat_interval` after this one, and a check against the send time
            // (a group_wait later) took it for a duplicate: repeats came at twice the interval.
            for n in &items {
                log.execute(params![
                    receiver,
                    n.advisory.fingerprint,
                    n.event.as_str(),
                    n.advisory.severity.to_string(),
                    n.at.min(now)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn mark_retry(&mut self, id: i64, reason: &str, next_at: Ts) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE notifications SET attempts = attempts + 1, reason = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![id, reason, next_at],
        )?;
        Ok(())
    }

    fn mark_failed(&mut self, id: i64, reason: &str, now: Ts) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE notifications SET state = 'failed', attempts = attempts + 1, reason = ?2, next_attempt_at = ?3 WHERE id = ?1",
            params![id, reason, now],
        )?;
        Ok(())
    }
}

impl Sqlite {
    fn notifications_where(
        &self,
        cond: &str,
        oldest_first: bool,
        limit: usize,
        receiver: Option<&str>,
    ) -> Result<Vec<Notification>, StoreError> {
        let order = if oldest_first { "id" } else { "id DESC" };
        let sql = format!(
            "SELECT id, receiver, group_key, state, reason, message_id, created_at, attempts, next_attempt_at, sent_at, items
             FROM notifications WHERE {cond} AND (?1 IS NULL OR receiver = ?1) ORDER BY {order} LIMIT ?2"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params![receiver, limit.min(i64::MAX as usize) as i64], |r| {
            Ok((
                (
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                ),
                (
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, Option<i64>>(9)?,
                    r.get::<_, String>(10)?,
                ),
            ))
        })?;
        let mut out = vec![];
        for row in rows {
            let ((id, receiver, group_key, state, reason, message_id), (created_at, attempts, next_attempt_at, sent_at, items)) = row?;
            out.push(Notification {
                id,
                receiver,
                group_key,
                state,
                reason,
                message_id,
                created_at,
                attempts,
                next_attempt_at,
                sent_at,
                items: serde_json::from_str(&items).map_err(|source| StoreError::Encode { what: "notices", source })?,
            });
        }
        Ok(out)
    }

    /// The notification log, newest first (`headroom notifications`), then the deliveries still
    /// waiting in their groups (state `waiting`, id 0).
    pub fn notifications(&self, limit: usize, receiver: Option<&str>) -> Result<Vec<Notification>, StoreError> {
        let mut waiting = vec![];
        {
            let mut stmt = self.conn.prepare_cached(
                "SELECT receiver, group_key, created_at, body FROM deliveries WHERE (?1 IS NULL OR receiver = ?1) ORDER BY id",
            )?;
            let rows: Vec<(String, String, i64, String)> = stmt
                .query_map(params![receiver], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?;
            for (receiver, group_key, created_at, body) in rows {
                waiting.push(Notification {
                    id: 0,
                    receiver,
                    group_key,
                    state: "waiting".into(),
                    reason: Some("waiting in its group (group_wait / group_interval)".into()),
                    message_id: String::new(),
                    created_at,
                    attempts: 0,
                    next_attempt_at: created_at,
                    sent_at: None,
                    items: vec![decode_notice(&body)?],
                });
            }
        }
        let mut out = waiting;
        out.extend(self.notifications_where("1", false, limit, receiver)?);
        Ok(out)
    }

    /// Adds a silence; returns its id.
    pub fn add_silence(
        &mut self,
        matchers: &[(String, String)],
        comment: &str,
        created_by: &str,
        now: Ts,
        ends_at: Ts,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO silences (matchers, comment, created_by, created_at, ends_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![encode("silence", &matchers)?, comment, created_by, now, ends_at],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Ends a silence now; false when there is no such silence in force.
    pub fn expire_silence(&mut self, id: i64, now: Ts) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("UPDATE silences SET ends_at = ?2 WHERE id = ?1 AND ends_at > ?2", params![id, now])?;
        Ok(n == 1)
    }

    /// Outbox rows, by event (tests and `notifications --json`'s counts).
    pub fn outbox_counts(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT event, COUNT(*) FROM outbox GROUP BY event ORDER BY event")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
