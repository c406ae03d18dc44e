//! The store's one error type and the mapping from sqlx errors into it.

use sqlx::error::{DatabaseError, ErrorKind};

/// Result of every store operation.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Why a store operation failed. Messages never contain secrets or connection passwords.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The row the operation needs does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// Kind of row, e.g. "authority".
        entity: &'static str,
        /// The identifier that was looked up.
        id: String,
    },
    /// A unique field already holds this value.
    #[error("{entity} with {field} {value:?} already exists")]
    Conflict {
        /// Kind of row, e.g. "authority".
        entity: &'static str,
        /// The unique field, e.g. "did".
        field: &'static str,
        /// The value that clashed (hashes are not echoed).
        value: String,
    },
    /// The request or a stored row breaks a rule of the data model.
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(String),
    /// Applying the schema migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The database URL names no supported backend.
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
}

impl StoreError {
    /// Stable code for this error; codes are never renumbered.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "STORE-001",
            StoreError::Conflict { .. } => "STORE-002",
            StoreError::InvalidData(_) => "STORE-003",
            StoreError::Database(_) => "STORE-004",
            StoreError::Migration(_) => "STORE-005",
            StoreError::UnsupportedUrl(_) => "STORE-006",
        }
    }
}

/// A unique constraint a statement may violate, and the conflict it means.
#[derive(Debug)]
pub(crate) struct UniqueCase {
    /// Backend-specific marker: the Postgres constraint name or a fragment of SQLite's message.
    pub marker: &'static str,
    pub entity: &'static str,
    pub field: &'static str,
    pub value: String,
}

/// The parent row a foreign key of a statement points to.
#[derive(Debug)]
pub(crate) struct ParentRef {
    pub entity: &'static str,
    pub id: String,
}

/// How a backend tells which constraint a database error is about.
pub(crate) type ConstraintMatcher = fn(&dyn DatabaseError, &str) -> bool;

/// Postgres names the violated constraint.
pub(crate) fn pg_constraint_is(err: &dyn DatabaseError, marker: &str) -> bool {
    err.constraint() == Some(marker)
}

/// SQLite only says "UNIQUE constraint failed: table.column" or "...: index 'name'".
pub(crate) fn sqlite_message_names(err: &dyn DatabaseError, marker: &str) -> bool {
    err.message().contains(marker)
}

/// Maps an sqlx error from `operation` into a [`StoreError`]: unique violations listed in
/// `uniques` become `Conflict`, a foreign-key violation becomes `NotFound` of `parent`.
pub(crate) fn map_sqlx(
    err: sqlx::Error,
    operation: &str,
    matcher: ConstraintMatcher,
    uniques: Vec<UniqueCase>,
    parent: Option<ParentRef>,
) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        match db.kind() {
            ErrorKind::UniqueViolation => {
                if let Some(case) = uniques.into_iter().find(|c| matcher(db.as_ref(), c.marker)) {
                    return StoreError::Conflict {
                        entity: case.entity,
                        field: case.field,
                        value: case.value,
                    };
                }
            }
            ErrorKind::ForeignKeyViolation => {
                if let Some(parent) = parent {
                    return StoreError::NotFound {
                        entity: parent.entity,
                        id: parent.id,
                    };
                }
            }
            _ => {}
        }
    }
    db_error(err, operation)
}

/// Wraps any other sqlx error, saying which operation failed and why: the whole cause chain
/// and, for an error the database returned, its code (SQLSTATE on Postgres), so the log line of a failed request
/// is enough to diagnose it. sqlx errors never carry the connection URL or its password.
pub(crate) fn db_error(err: sqlx::Error, operation: &str) -> StoreError {
    let mut message = format!("{operation}: {}", cause_chain(&err));
    if let sqlx::Error::Database(db) = &err
        && let Some(code) = db.code()
    {
        message.push_str(&format!(" (database code {code})"));
    }
    StoreError::Database(message)
}

/// `err` and each of its sources, joined with ": ", skipping a source whose text the message
/// already holds (sqlx repeats its inner error in its own message).
pub(crate) fn cause_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !line.is_empty() && !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

/// The conflict for a duplicate API key hash: names the key by its prefix, never the hash.
pub(crate) fn api_key_hash_conflict(marker: &'static str, key_prefix: &str) -> UniqueCase {
    UniqueCase {
        marker,
        entity: "API key",
        field: "key_hash",
        value: format!("{key_prefix}…"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_pinned() {
        let table = [
            (
                StoreError::NotFound {
                    entity: "tenant",
                    id: "x".into(),
                },
                "STORE-001",
            ),
            (
                StoreError::Conflict {
                    entity: "tenant",
                    field: "name",
                    value: "x".into(),
                },
                "STORE-002",
            ),
            (StoreError::InvalidData("x".into()), "STORE-003"),
            (StoreError::Database("x".into()), "STORE-004"),
            (StoreError::Migration("x".into()), "STORE-005"),
            (StoreError::UnsupportedUrl("x".into()), "STORE-006"),
        ];
        for (err, code) in table {
            assert_eq!(err.code(), code, "{err}");
        }
    }

    #[test]
    fn messages_name_the_field() {
        let err = StoreError::Conflict {
            entity: "authority",
            field: "did",
            value: "did:web:example.com".into(),
        };
        assert_eq!(
            err.to_string(),
            "authority with did \"did:web:example.com\" already exists"
        );
        let err = StoreError::NotFound {
            entity: "signing key",
            id: "k1".into(),
        };
        assert_eq!(err.to_string(), "signing key k1 not found");
    }

    #[test]
    fn non_database_errors_become_database_errors_naming_the_operation() {
        let err = map_sqlx(
            sqlx::Error::RowNotFound,
            "load tenant",
            pg_constraint_is,
            vec![UniqueCase {
                marker: "tenants_name_key",
                entity: "tenant",
                field: "name",
                value: "x".into(),
            }],
            Some(ParentRef {
                entity: "tenant",
                id: "y".into(),
            }),
        );
        match err {
            StoreError::Database(msg) => assert!(msg.starts_with("load tenant: "), "{msg}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1
                .as_deref()
                .map(|l| l as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn database_errors_carry_the_operation_and_every_cause() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            Layer(
                "tls alert",
                Some(Box::new(Layer("peer reset the socket", None))),
            ),
        );
        let err = db_error(sqlx::Error::Io(io), "insert issued credential");
        let StoreError::Database(msg) = &err else {
            panic!("unexpected {err:?}");
        };
        assert!(msg.starts_with("insert issued credential: "), "{msg}");
        assert!(msg.contains("error communicating with database"), "{msg}");
        assert!(msg.contains("tls alert"), "{msg}");
        assert!(
            msg.contains("peer reset the socket"),
            "the deepest cause: {msg}"
        );
        // sqlx repeats its inner error in its own message: it is not printed twice.
        assert_eq!(msg.matches("tls alert").count(), 1, "{msg}");
    }

    #[tokio::test]
    async fn a_database_error_keeps_the_database_text_and_code() {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let err = sqlx::query("SELECT * FROM no_such_table")
            .execute(&mut conn)
            .await
            .unwrap_err();
        let StoreError::Database(msg) = db_error(err, "load tenant") else {
            panic!("not a database error");
        };
        assert!(msg.starts_with("load tenant: "), "{msg}");
        assert!(msg.contains("no such table: no_such_table"), "{msg}");
        assert!(msg.contains("(database code "), "{msg}");
    }

    #[test]
    fn api_key_conflicts_do_not_echo_the_hash() {
        let case = api_key_hash_conflict("m", "vk_ab");
        assert_eq!(case.value, "vk_ab…");
        assert_eq!(case.field, "key_hash");
    }
}
