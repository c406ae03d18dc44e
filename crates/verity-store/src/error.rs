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

/// Wraps any other sqlx error, saying which operation failed.
pub(crate) fn db_error(err: sqlx::Error, operation: &str) -> StoreError {
    StoreError::Database(format!("{operation}: {err}"))
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

    #[test]
    fn api_key_conflicts_do_not_echo_the_hash() {
        let case = api_key_hash_conflict("m", "vk_ab");
        assert_eq!(case.value, "vk_ab…");
        assert_eq!(case.field, "key_hash");
    }
}
