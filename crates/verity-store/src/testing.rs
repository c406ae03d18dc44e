//! Fresh, isolated databases for tests: a temporary SQLite file, or a new database on the
//! Postgres server named by `VERITY_TEST_POSTGRES_URL`. Postgres tests skip when it is unset,
//! unless `VERITY_TEST_REQUIRE_POSTGRES=1` says a missing Postgres is a failure (CI sets it, so
//! a broken environment cannot pass by skipping half the suite).
//!
//! Each call makes a new database, so tests run in parallel without seeing each other's rows.
//!
//! [`FaultyStore`] wraps a store and fails calls on purpose (before they run, after they
//! committed, or at one statement inside a flow step), for tests that check no failure point
//! loses or half-writes a step.

// A test helper must fail loudly: a Postgres server that is configured but unusable, or a temp
// directory that cannot be made, is a broken test environment, not a reason to skip.
#![allow(clippy::panic)]

use std::fmt;
use std::sync::Arc;

use sqlx::{Connection, PgConnection};

use crate::{Store, connect};

mod faulty;

pub use crate::fault::FaultPoint;
pub use faulty::{
    FailNthStatement, FaultAt, FaultPlan, FaultyStore, Injected, injected_error, is_injected,
    with_fault_point,
};

/// The environment variable naming a Postgres server tests may create databases on.
pub const POSTGRES_URL_ENV: &str = "VERITY_TEST_POSTGRES_URL";

/// The environment variable that turns a missing or unreachable Postgres into a test failure.
pub const REQUIRE_POSTGRES_ENV: &str = "VERITY_TEST_REQUIRE_POSTGRES";

/// What a Postgres-backed test does, decided from [`POSTGRES_URL_ENV`] and
/// [`REQUIRE_POSTGRES_ENV`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostgresPlan {
    /// Create test databases on the server at this URL.
    Use {
        /// The server URL (may carry a password: never print it).
        url: String,
        /// Whether a server that cannot be reached fails the test run (it always does; this
        /// only decides how the failure explains itself).
        required: bool,
    },
    /// Postgres is optional and not configured: the test passes without running.
    Skip,
}

/// Decides from the raw values of [`POSTGRES_URL_ENV`] and [`REQUIRE_POSTGRES_ENV`] whether
/// Postgres tests run, skip, or must fail (the error says which variable to fix).
pub fn postgres_plan(url: Option<&str>, require: Option<&str>) -> Result<PostgresPlan, String> {
    let required = match require.map(str::trim) {
        None | Some("" | "0" | "false") => false,
        Some("1" | "true") => true,
        Some(other) => {
            return Err(format!(
                "{REQUIRE_POSTGRES_ENV} must be 1 (or true) to require Postgres, or 0 (or false), \
                 not `{other}`"
            ));
        }
    };
    match url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => Ok(PostgresPlan::Use {
            url: url.to_owned(),
            required,
        }),
        None if required => Err(format!(
            "{REQUIRE_POSTGRES_ENV}=1 but {POSTGRES_URL_ENV} is not set: Postgres tests must run \
             here, so set it to a server tests may create databases on \
             (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
        )),
        None => Ok(PostgresPlan::Skip),
    }
}

/// Which backend a test database uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A new database on the server named by `VERITY_TEST_POSTGRES_URL`.
    Postgres,
}

/// A database that exists for one test; dropping it removes it (best effort for Postgres).
pub struct TestDatabase {
    /// URL to pass to [`connect`].
    pub url: String,
    backing: Backing,
}

enum Backing {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { admin_url: String, name: String },
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The Postgres URL may carry a password: show only what identifies the database.
        match &self.backing {
            Backing::Sqlite { .. } => f
                .debug_struct("TestDatabase")
                .field("url", &self.url)
                .finish(),
            Backing::Postgres { name, .. } => f
                .debug_struct("TestDatabase")
                .field("postgres_database", name)
                .finish_non_exhaustive(),
        }
    }
}

impl TestDatabase {
    /// Which backend this database uses.
    pub fn backend(&self) -> Backend {
        match self.backing {
            Backing::Sqlite { .. } => Backend::Sqlite,
            Backing::Postgres { .. } => Backend::Postgres,
        }
    }
}

/// The Postgres server URL for tests, if `VERITY_TEST_POSTGRES_URL` is set and not blank.
pub fn postgres_url_from_env() -> Option<String> {
    std::env::var(POSTGRES_URL_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A new empty database (not yet migrated; [`connect`] migrates it).
///
/// `None` for Postgres when `VERITY_TEST_POSTGRES_URL` is unset (the skip is printed to
/// stderr); panics when the environment is broken, and when `VERITY_TEST_REQUIRE_POSTGRES=1`
/// and Postgres is not configured or not reachable.
pub async fn fresh_database(backend: Backend) -> Option<TestDatabase> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir()
                .unwrap_or_else(|e| panic!("cannot create a temp dir for SQLite: {e}"));
            let url = format!("sqlite://{}", dir.path().join("verity.db").display());
            Some(TestDatabase {
                url,
                backing: Backing::Sqlite { _dir: dir },
            })
        }
        Backend::Postgres => {
            let url_var = std::env::var(POSTGRES_URL_ENV).ok();
            let require_var = std::env::var(REQUIRE_POSTGRES_ENV).ok();
            let (admin_url, required) =
                match postgres_plan(url_var.as_deref(), require_var.as_deref()) {
                    Ok(PostgresPlan::Use { url, required }) => (url, required),
                    Ok(PostgresPlan::Skip) => {
                        eprintln!("skipped: {POSTGRES_URL_ENV} not set");
                        return None;
                    }
                    Err(reason) => panic!("{reason}"),
                };
            let why_required = if required {
                format!(" ({REQUIRE_POSTGRES_ENV}=1: Postgres tests may not be skipped)")
            } else {
                String::new()
            };
            let name = format!("verity_test_{}", uuid::Uuid::new_v4().simple());
            let url = url_with_database(&admin_url, &name).unwrap_or_else(|| {
                panic!("{POSTGRES_URL_ENV} is not a postgres:// URL with a host")
            });
            let mut conn = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!("cannot connect to the server in {POSTGRES_URL_ENV}{why_required}: {e}")
            });
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
            // Closing is a courtesy to the server; the database exists either way.
            let _ = conn.close().await;
            Some(TestDatabase {
                url,
                backing: Backing::Postgres { admin_url, name },
            })
        }
    }
}

/// A fresh database and a store connected to it (migrated); `None` when Postgres is skipped.
///
/// Keep the `TestDatabase` alive as long as the store.
pub async fn fresh_store(backend: Backend) -> Option<(TestDatabase, Arc<dyn Store>)> {
    let db = fresh_database(backend).await?;
    let store = connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("cannot open the fresh {backend:?} test database: {e}"));
    Some((db, store))
}

/// `url` with its database path replaced by `database`, keeping credentials and parameters.
fn url_with_database(url: &str, database: &str) -> Option<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://")? + 3;
    let rest = &base[authority_start..];
    let authority = rest.split('/').next().filter(|a| !a.is_empty())?;
    let mut out = format!("{}{}/{}", &base[..authority_start], authority, database);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Some(out)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Backing::Postgres { admin_url, name } = &self.backing else {
            return; // the TempDir removes the SQLite file
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        // Drop cannot await, and may run inside or outside a runtime: do the async work on a
        // thread with its own runtime and wait for it. Every failure is reported, none panics.
        let worker = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("test database {name} left behind: no runtime: {e}");
                    return;
                }
            };
            runtime.block_on(drop_database(&admin_url, &name));
        });
        if worker.join().is_err() {
            eprintln!("test database cleanup thread failed");
        }
    }
}

async fn drop_database(admin_url: &str, name: &str) {
    let mut conn = match PgConnection::connect(admin_url).await {
        Ok(conn) => conn,
        Err(e) => {
            eprintln!("test database {name} left behind: cannot connect: {e}");
            return;
        }
    };
    // FORCE (Postgres 13+) ends connections the store's pool may still hold.
    let forced = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await;
    if forced.is_err()
        && let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .execute(&mut conn)
            .await
    {
        eprintln!("test database {name} left behind: {e}");
    }
    let _ = conn.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_swapped_and_the_rest_kept() {
        assert_eq!(
            url_with_database("postgres://postgres@127.0.0.1:5432/postgres", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            url_with_database("postgresql://u:p@h/db?sslmode=disable", "x").unwrap(),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            url_with_database("postgres://h:5433", "x").unwrap(),
            "postgres://h:5433/x"
        );
        assert_eq!(url_with_database("postgres:///db", "x"), None);
        assert_eq!(url_with_database("not a url", "x"), None);
    }

    #[test]
    fn postgres_plan_skips_only_when_optional_and_unset() {
        let url = "postgres://postgres@127.0.0.1:5432/postgres";
        assert_eq!(postgres_plan(None, None), Ok(PostgresPlan::Skip));
        assert_eq!(postgres_plan(Some("  "), Some("0")), Ok(PostgresPlan::Skip));
        assert_eq!(postgres_plan(None, Some("")), Ok(PostgresPlan::Skip));
        assert_eq!(postgres_plan(None, Some("false")), Ok(PostgresPlan::Skip));
        assert_eq!(
            postgres_plan(Some(url), None),
            Ok(PostgresPlan::Use {
                url: url.into(),
                required: false
            })
        );
        for require in ["1", "true", " 1 "] {
            assert_eq!(
                postgres_plan(Some(url), Some(require)),
                Ok(PostgresPlan::Use {
                    url: url.into(),
                    required: true
                }),
                "{require}"
            );
        }
    }

    #[test]
    fn required_postgres_without_a_url_is_an_error_naming_both_variables() {
        for url in [None, Some(""), Some("   ")] {
            let err = postgres_plan(url, Some("1")).unwrap_err();
            assert!(err.contains(REQUIRE_POSTGRES_ENV), "{err}");
            assert!(err.contains(POSTGRES_URL_ENV), "{err}");
        }
    }

    #[test]
    fn unknown_require_values_are_refused_not_read_as_optional() {
        let err = postgres_plan(Some("postgres://h/db"), Some("yes")).unwrap_err();
        assert!(
            err.contains(REQUIRE_POSTGRES_ENV) && err.contains("`yes`"),
            "{err}"
        );
        assert!(postgres_plan(None, Some("2")).is_err());
    }

    #[tokio::test]
    async fn sqlite_database_is_removed_on_drop() {
        let db = fresh_database(Backend::Sqlite).await.unwrap();
        assert_eq!(db.backend(), Backend::Sqlite);
        let store = connect(&db.url).await.unwrap();
        store.ping().await.unwrap();
        let path = db.url.trim_start_matches("sqlite://").to_owned();
        assert!(std::path::Path::new(&path).exists());
        drop(store);
        drop(db);
        assert!(!std::path::Path::new(&path).exists());
    }

    #[tokio::test]
    async fn postgres_database_is_created_and_dropped() {
        let Some(db) = fresh_database(Backend::Postgres).await else {
            return; // skipped: printed by fresh_database
        };
        let Backing::Postgres { admin_url, name } = &db.backing else {
            panic!("not a Postgres database");
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        assert!(format!("{db:?}").contains(&name));
        let store = connect(&db.url).await.unwrap();
        assert_eq!(store.backend(), "postgres");
        drop(store);
        drop(db);
        let mut conn = PgConnection::connect(&admin_url).await.unwrap();
        let left: Option<(String,)> =
            sqlx::query_as("SELECT datname::text FROM pg_database WHERE datname = $1")
                .bind(&name)
                .fetch_optional(&mut conn)
                .await
                .unwrap();
        assert_eq!(left, None, "test database {name} was not dropped");
    }
}
