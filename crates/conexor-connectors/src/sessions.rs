//! A small pool of source sessions, each lent for one read and taken back
//! only when the read ended cleanly.
//!
//! Why not sqlx's pool: it sends a `Sync` and waits for the server's answer
//! every time a session comes back (to flush a rollback that might be
//! pending), one round trip per call that a read which knows how it ended does
//! not need. Here the borrower says how its session ends: [`Session::give_back`]
//! (the read ended cleanly at a statement boundary), [`Session::close`], or a
//! plain drop, which closes the socket at once (a cancelled read: the server
//! ends the statement when it sees its client gone). Nothing else is sent on a
//! session the borrower did not send itself, except a ping before lending one
//! that sat idle ([`TEST_AFTER_IDLE`]).
//!
//! What it keeps from a pool: a cap on sessions (a semaphore), a wait for a
//! free one bounded by the acquire timeout (`sqlx::Error::PoolTimedOut`),
//! logins bounded by the connect timeout, sessions idle longer than the idle
//! timeout closed (on the next acquire, and by a sweeper task), and
//! [`Sessions::close`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a session may sit unused before it is tested (one round trip)
/// before it is lent. Under load sessions come back within a millisecond and
/// are never pinged; a session the server dropped while idle (a restart, an
/// idle kill, a network cut) is found here and replaced, not handed to a
/// caller. One dropped within this window fails that call with
/// `connect.lost`: the caller's statement is never re-sent on its own (an
/// administrator may have ended it on purpose).
pub(crate) const TEST_AFTER_IDLE: Duration = Duration::from_millis(100);

/// A new session and what its login learnt about it (its id, say).
type Login<C, M> = Box<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<(C, M), sqlx::Error>> + Send>> + Send + Sync,
>;

/// Settings of a [`Sessions`] pool.
pub(crate) struct Settings {
    pub max: u32,
    pub acquire_timeout: Duration,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
}

impl From<&crate::OpenOptions> for Settings {
    /// A source's pool: waiting for a session and logging in are both bounded
    /// by the connect timeout.
    fn from(options: &crate::OpenOptions) -> Settings {
        Settings {
            max: options.max_connections,
            acquire_timeout: options.connect_timeout,
            connect_timeout: options.connect_timeout,
            idle_timeout: options.idle_timeout,
        }
    }
}

/// `M` is what a login learns about its session and the borrower may need
/// (MySQL: the session id that `KILL QUERY` names).
pub(crate) struct Sessions<C: sqlx::Connection, M = ()> {
    inner: Arc<Inner<C, M>>,
}

impl<C: sqlx::Connection, M> Clone for Sessions<C, M> {
    fn clone(&self) -> Self {
        Sessions {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<C, M> {
    login: Login<C, M>,
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<(C, M, Instant)>>,
    settings: Settings,
}

/// A lent session; derefs to the driver's connection.
pub(crate) struct Session<C: sqlx::Connection, M = ()> {
    conn: Option<(C, M)>,
    pool: Arc<Inner<C, M>>,
    _permit: OwnedSemaphorePermit,
}

impl<C: sqlx::Connection + 'static, M: Send + 'static> Sessions<C, M> {
    /// A pool whose sessions come from `login` (called for each new session).
    pub(crate) fn new<F, Fut>(settings: Settings, login: F) -> Sessions<C, M>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(C, M), sqlx::Error>> + Send + 'static,
    {
        let inner = Arc::new(Inner {
            login: Box::new(move || Box::pin(login())),
            permits: Arc::new(Semaphore::new(settings.max.max(1) as usize)),
            idle: Mutex::new(Vec::new()),
            settings,
        });
        let sweep = (inner.settings.idle_timeout / 2).max(Duration::from_secs(1));
        tokio::spawn(sweeper(Arc::downgrade(&inner), sweep));
        Sessions { inner }
    }

    pub(crate) fn max(&self) -> u32 {
        self.inner.settings.max
    }

    /// A session for one read: an idle one (tested first when it sat idle
    /// for [`TEST_AFTER_IDLE`]), or a new login when none is idle and the cap
    /// allows. Waits for a free one at most the acquire timeout.
    ///
    /// A failed login is a connection failure's class and fixed sentence
    /// ([`crate::error::login_error`]): what a source says while a session
    /// logs in is about the login, never for the client to read.
    pub(crate) async fn acquire(&self) -> Result<Session<C, M>, crate::Error> {
        let inner = &self.inner;
        let permit = match tokio::time::timeout(
            inner.settings.acquire_timeout,
            inner.permits.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(permit)) => permit,
            Ok(Err(_closed)) => return Err(sqlx::Error::PoolClosed.into()),
            Err(_elapsed) => return Err(sqlx::Error::PoolTimedOut.into()),
        };
        loop {
            let Some((mut conn, meta, since)) = lock(&inner.idle).pop() else {
                break;
            };
            let idle_for = since.elapsed();
            if idle_for >= inner.settings.idle_timeout {
                tokio::spawn(async move {
                    let _ = conn.close().await;
                });
                continue;
            }
            // A ping that fails, or gets no answer within the connect timeout (a cut
            // network): the session is gone, and dropping it closes the socket.
            if idle_for >= TEST_AFTER_IDLE
                && !matches!(
                    tokio::time::timeout(inner.settings.connect_timeout, conn.ping()).await,
                    Ok(Ok(()))
                )
            {
                continue;
            }
            return Ok(Session {
                conn: Some((conn, meta)),
                pool: inner.clone(),
                _permit: permit,
            });
        }
        let fresh =
            match tokio::time::timeout(inner.settings.connect_timeout, (inner.login)()).await {
                Ok(fresh) => fresh.map_err(crate::error::login_error)?,
                Err(_elapsed) => return Err(sqlx::Error::PoolTimedOut.into()),
            };
        Ok(Session {
            conn: Some(fresh),
            pool: inner.clone(),
            _permit: permit,
        })
    }

    /// Closes every idle session and refuses new borrowers; lent sessions
    /// close as they are given back.
    pub(crate) async fn close(&self) {
        self.inner.permits.close();
        let idle: Vec<_> = lock(&self.inner.idle).drain(..).collect();
        for (conn, _, _) in idle {
            let _ = conn.close().await;
        }
    }
}

impl<C: sqlx::Connection + 'static, M: Send + 'static> Session<C, M> {
    /// What the session's login learnt about it.
    pub(crate) fn meta(&self) -> &M {
        // Present until give_back/close, which take `self`.
        &self
            .conn
            .as_ref()
            .expect("a lent session holds its connection")
            .1
    }

    /// Back to the pool, for a session whose read ended cleanly: no
    /// transaction open, no statement running, nothing left unread.
    pub(crate) fn give_back(mut self) {
        if let Some((conn, meta)) = self.conn.take() {
            if self.pool.permits.is_closed() {
                tokio::spawn(async move {
                    let _ = conn.close().await;
                });
            } else {
                lock(&self.pool.idle).push((conn, meta, Instant::now()));
            }
        }
    }

    /// Ends the session politely (a `Terminate` message), not returned.
    pub(crate) async fn close(mut self) {
        if let Some((conn, _)) = self.conn.take() {
            let _ = conn.close().await;
        }
    }
}

/// A session dropped without `give_back` or `close` (a cancelled read, an
/// early return) is not returned: its socket is closed at once.
impl<C: sqlx::Connection, M> Drop for Session<C, M> {
    fn drop(&mut self) {
        drop(self.conn.take());
    }
}

impl<C: sqlx::Connection, M> std::ops::Deref for Session<C, M> {
    type Target = C;
    fn deref(&self) -> &C {
        // Present until give_back/close, which take `self`.
        &self
            .conn
            .as_ref()
            .expect("a lent session holds its connection")
            .0
    }
}

impl<C: sqlx::Connection, M> std::ops::DerefMut for Session<C, M> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self
            .conn
            .as_mut()
            .expect("a lent session holds its connection")
            .0
    }
}

/// Closes sessions idle past the idle timeout, while the pool lives.
async fn sweeper<C: sqlx::Connection + 'static, M: Send + 'static>(
    pool: Weak<Inner<C, M>>,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = pool.upgrade() else { return };
        if inner.permits.is_closed() {
            return;
        }
        let expired: Vec<C> = {
            let mut idle = lock(&inner.idle);
            let limit = inner.settings.idle_timeout;
            let (old, fresh): (Vec<_>, Vec<_>) = idle
                .drain(..)
                .partition(|(_, _, since)| since.elapsed() >= limit);
            *idle = fresh;
            old.into_iter().map(|(conn, _, _)| conn).collect()
        };
        drop(inner);
        for conn in expired {
            let _ = conn.close().await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{ConnectOptions, Executor, SqliteConnection};

    fn pool(max: u32, idle_timeout: Duration) -> Sessions<SqliteConnection> {
        let settings = Settings {
            max,
            acquire_timeout: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(5),
            idle_timeout,
        };
        Sessions::new(settings, || async {
            let conn = sqlx::sqlite::SqliteConnectOptions::new()
                .in_memory(true)
                .connect()
                .await?;
            Ok((conn, ()))
        })
    }

    /// Marks a session so that it can be recognised when lent again.
    async fn mark(session: &mut Session<SqliteConnection>) {
        session
            .execute("CREATE TEMP TABLE IF NOT EXISTS mark (x INT)")
            .await
            .unwrap();
    }

    async fn marked(session: &mut Session<SqliteConnection>) -> bool {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM temp.sqlite_master WHERE name = 'mark'")
                .fetch_one(&mut **session)
                .await
                .unwrap();
        n == 1
    }

    #[tokio::test]
    async fn a_session_given_back_is_lent_again_and_a_dropped_one_is_not() {
        let sessions = pool(1, Duration::from_secs(60));
        let mut first = sessions.acquire().await.unwrap();
        mark(&mut first).await;
        first.give_back();
        let mut again = sessions.acquire().await.unwrap();
        assert!(
            marked(&mut again).await,
            "the session given back was not reused"
        );
        // Dropped (a cancelled read): closed, and the next borrower gets a new one.
        drop(again);
        let mut fresh = sessions.acquire().await.unwrap();
        assert!(
            !marked(&mut fresh).await,
            "a dropped session was lent again"
        );
    }

    #[tokio::test]
    async fn the_cap_holds_and_a_waiting_borrower_times_out() {
        let sessions = pool(2, Duration::from_secs(60));
        let a = sessions.acquire().await.unwrap();
        let _b = sessions.acquire().await.unwrap();
        let waited = sessions.acquire().await;
        assert!(
            matches!(
                waited,
                Err(crate::Error::Connect {
                    failure: crate::ConnectFailure::Timeout
                })
            ),
            "a third session was lent"
        );
        a.give_back();
        sessions
            .acquire()
            .await
            .expect("a session freed by give_back is lent");
    }

    #[tokio::test]
    async fn idle_sessions_expire_and_a_closed_pool_lends_nothing() {
        let sessions = pool(1, Duration::from_millis(50));
        let mut first = sessions.acquire().await.unwrap();
        mark(&mut first).await;
        first.give_back();
        tokio::time::sleep(Duration::from_millis(120)).await;
        let mut later = sessions.acquire().await.unwrap();
        assert!(
            !marked(&mut later).await,
            "a session idle past the timeout was lent"
        );
        later.give_back();
        sessions.close().await;
        assert!(matches!(
            sessions.acquire().await,
            Err(crate::Error::Connect {
                failure: crate::ConnectFailure::Lost
            })
        ));
    }
}
