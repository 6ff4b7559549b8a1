//! The schema: migrations embedded in the binary from `migrations/sqlite/` and
//! `migrations/postgres/` (one folder per backend, because identity columns are spelled
//! differently), run through sqlx's migrator on connect.
//!
//! The files are listed here by hand (sqlx's `migrate!` macro needs sqlx's `macros` feature,
//! which this crate does not enable); a unit test checks that the lists and the folders agree.
//! To change the schema, add `NNNN_what.sql` to both folders and a line to both lists below.

use super::{Backend, StoreError};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

/// (version, description, SQL) of each SQLite migration, in order.
const SQLITE: &[(i64, &str, &str)] = &[
    (1, "schema", include_str!("../migrations/sqlite/0001_schema.sql")),
    (2, "delivery", include_str!("../migrations/sqlite/0002_delivery.sql")),
    (3, "sent", include_str!("../migrations/sqlite/0003_sent.sql")),
    (4, "health_probe", include_str!("../migrations/sqlite/0004_health_probe.sql")),
    (5, "customer_emails", include_str!("../migrations/sqlite/0005_customer_emails.sql")),
    (6, "order_inputs", include_str!("../migrations/sqlite/0006_order_inputs.sql")),
    (7, "sessions", include_str!("../migrations/sqlite/0007_sessions.sql")),
    (8, "customer_merges", include_str!("../migrations/sqlite/0008_customer_merges.sql")),
    (9, "stuck_orders", include_str!("../migrations/sqlite/0009_stuck_orders.sql")),
    (10, "orders_updated_at", include_str!("../migrations/sqlite/0010_orders_updated_at.sql")),
];

/// (version, description, SQL) of each PostgreSQL migration, in order.
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "schema", include_str!("../migrations/postgres/0001_schema.sql")),
    (2, "delivery", include_str!("../migrations/postgres/0002_delivery.sql")),
    (3, "sent", include_str!("../migrations/postgres/0003_sent.sql")),
    (4, "health_probe", include_str!("../migrations/postgres/0004_health_probe.sql")),
    (5, "customer_emails", include_str!("../migrations/postgres/0005_customer_emails.sql")),
    (6, "order_inputs", include_str!("../migrations/postgres/0006_order_inputs.sql")),
    (7, "sessions", include_str!("../migrations/postgres/0007_sessions.sql")),
    (8, "customer_merges", include_str!("../migrations/postgres/0008_customer_merges.sql")),
    (9, "stuck_orders", include_str!("../migrations/postgres/0009_stuck_orders.sql")),
    (10, "orders_updated_at", include_str!("../migrations/postgres/0010_orders_updated_at.sql")),
];

/// Migrations compiled into the binary.
#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(migrations)))
    }
}

/// The migrator for a backend.
pub(crate) async fn migrator(backend: Backend) -> Result<Migrator, StoreError> {
    let files = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    Ok(Migrator::new(Embedded(files)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn listed_and_on_disk(folder: &str, listed: &[(i64, &str, &str)]) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(folder);
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        on_disk.sort();
        let names: Vec<String> = listed.iter().map(|(v, d, _)| format!("{v:04}_{d}.sql")).collect();
        assert_eq!(names, on_disk, "migrations/{folder} and the list in src/store/schema.rs differ");
        for (name, (_, _, sql)) in names.iter().zip(listed) {
            assert_eq!(&std::fs::read_to_string(dir.join(name)).unwrap(), sql);
        }
    }

    #[test]
    fn every_migration_file_is_embedded() {
        listed_and_on_disk("sqlite", SQLITE);
        listed_and_on_disk("postgres", POSTGRES);
    }

    #[test]
    fn the_two_schemas_differ_only_in_identity_columns() {
        for ((v1, _, sqlite), (v2, _, postgres)) in SQLITE.iter().zip(POSTGRES) {
            assert_eq!(v1, v2);
            let normalize = |s: &str| {
                s.lines()
                    .filter(|l| !l.starts_with("--"))
                    .map(|l| {
                        l.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "ID")
                            .replace("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "ID")
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(normalize(sqlite), normalize(postgres));
        }
        assert_eq!(SQLITE.len(), POSTGRES.len());
    }

    /// Migration 5 claims each email the customers already there have, for the oldest of them
    /// (the one matching links when no company decides); an empty email claims nothing.
    #[tokio::test]
    async fn customer_emails_are_filled_from_the_customers_there_are() {
        sqlx::any::install_default_drivers();
        let pool =
            sqlx::any::AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await.unwrap();
        Migrator::new(Embedded(&SQLITE[..4])).await.unwrap().run(&pool).await.unwrap();
        for (email, company) in [("ann@x.com", "acme"), ("bob@x.com", ""), ("ann@x.com", "other"), ("", "")] {
            sqlx::query(
                "INSERT INTO customers (email, email_norm, first_name, last_name, name_norm, company, \
                 company_norm, phone, zip_norm, is_guest, created_at) VALUES ($1, $1, '', '', '', $2, $2, '', '', 0, '')",
            )
            .bind(email)
            .bind(company)
            .execute(&pool)
            .await
            .unwrap();
        }
        migrator(Backend::Sqlite).await.unwrap().run(&pool).await.unwrap();
        let claims: Vec<(String, i64)> =
            sqlx::query_as("SELECT email_norm, customer_id FROM customer_emails ORDER BY email_norm")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(claims, [("ann@x.com".to_string(), 1), ("bob@x.com".to_string(), 2)]);
    }
}
