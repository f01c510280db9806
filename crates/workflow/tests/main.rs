//! Workflow engine tests on a real database (SQLite, or PostgreSQL with
//! FERROSTACK_TEST_BACKEND=postgres and FERROSTACK_TEST_POSTGRES_URL).

mod runs;

use db::{sqlx, Db};

pub struct TestDb {
    pub db: Db,
    _dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, pg) = if std::env::var("FERROSTACK_TEST_BACKEND").as_deref() == Ok("postgres") {
            let server = std::env::var("FERROSTACK_TEST_POSTGRES_URL")
                .expect("FERROSTACK_TEST_POSTGRES_URL must name a PostgreSQL server");
            let name = format!("ft_{}", uuid::Uuid::new_v4().simple());
            let mut conn =
                <sqlx::PgConnection as sqlx::Connection>::connect(&server).await.expect("connect to PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create database");
            let (base, _) = server.rsplit_once('/').expect("URL with a database name");
            (format!("{base}/{name}"), Some((server, name)))
        } else {
            (format!("sqlite://{}/test.db", dir.path().display()), None)
        };
        let db = Db::connect(&url, 4).await.expect("connect");
        db.migrate(&[workflow::MIGRATIONS]).await.expect("migrate");
        TestDb { db, _dir: dir, pg }
    }

    pub async fn drop_db(self) {
        self.db.close().await;
        if let Some((server, name)) = self.pg {
            let mut conn =
                <sqlx::PgConnection as sqlx::Connection>::connect(&server).await.expect("connect to PostgreSQL");
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await;
        }
    }
}
