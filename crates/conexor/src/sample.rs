//! The bundled sample database for `conexor demo`: a small shop (customers,
//! products, orders, order_items) generated at first run, deterministically,
//! so that every demo shows the same data.

use anyhow::{Context, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Connection, Executor};
use std::path::Path;

const FIRST: &[&str] = &[
    "Ana", "Ben", "Chloé", "Diego", "Emma", "Farah", "Gustav", "Hana", "Ivan", "Jia", "Kofi",
    "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor",
    "Wen", "Yara", "Zoe",
];
const LAST: &[&str] = &[
    "Silva", "Müller", "Kim", "Okafor", "Rossi", "Nakamura", "Dubois", "Novak", "García",
    "Ivanova", "Haddad", "Larsen", "Chen", "Patel", "O'Brien", "Schmidt", "Costa", "Nguyen",
];
const COUNTRIES: &[&str] = &[
    "DE", "FR", "ES", "IT", "NL", "PL", "SE", "US", "GB", "JP", "BR", "IN",
];
const CATEGORIES: &[(&str, &[&str])] = &[
    (
        "Coffee",
        &[
            "Espresso Beans",
            "Filter Roast",
            "Decaf Blend",
            "Single Origin Ethiopia",
            "Cold Brew Pack",
        ],
    ),
    (
        "Tea",
        &["Sencha", "Earl Grey", "Rooibos", "Chai Mix", "Oolong"],
    ),
    (
        "Equipment",
        &[
            "Pour-over Kettle",
            "Burr Grinder",
            "French Press",
            "Milk Frother",
            "Scale",
        ],
    ),
    (
        "Bakery",
        &[
            "Croissant Box",
            "Sourdough Loaf",
            "Cinnamon Rolls",
            "Biscotti",
            "Brownie Tray",
        ],
    ),
];
const STATUSES: &[&str] = &[
    "delivered",
    "delivered",
    "delivered",
    "shipped",
    "paid",
    "cancelled",
    "refunded",
];

/// A small deterministic generator (SplitMix64), so the sample is the same everywhere.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Creates the sample database at `path` unless it exists.
pub async fn ensure(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("db.partial");
    let _ = std::fs::remove_file(&tmp);
    let options = SqliteConnectOptions::new()
        .filename(&tmp)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Delete);
    let mut conn = sqlx::SqliteConnection::connect_with(&options)
        .await
        .context("creating the sample database")?;
    conn.execute(
        "CREATE TABLE customers (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            email TEXT NOT NULL UNIQUE,
            country TEXT NOT NULL,
            signed_up_at TEXT NOT NULL
        );
        CREATE TABLE products (
            id INTEGER PRIMARY KEY,
            sku TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            category TEXT NOT NULL,
            price_cents INTEGER NOT NULL CHECK (price_cents > 0)
        );
        CREATE TABLE orders (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers(id),
            status TEXT NOT NULL,
            ordered_at TEXT NOT NULL,
            total_cents INTEGER NOT NULL
        );
        CREATE TABLE order_items (
            order_id INTEGER NOT NULL REFERENCES orders(id),
            line INTEGER NOT NULL,
            product_id INTEGER NOT NULL REFERENCES products(id),
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            unit_price_cents INTEGER NOT NULL,
            PRIMARY KEY (order_id, line)
        );
        CREATE INDEX orders_customer ON orders(customer_id);
        CREATE VIEW revenue_by_country AS
            SELECT c.country, COUNT(DISTINCT o.id) AS orders, SUM(o.total_cents) / 100.0 AS revenue
            FROM orders o JOIN customers c ON c.id = o.customer_id
            WHERE o.status NOT IN ('cancelled', 'refunded')
            GROUP BY c.country;",
    )
    .await?;
    let mut rng = Rng(20261122);
    let mut tx = conn.begin().await?;
    const CUSTOMERS: u64 = 600;
    for id in 1..=CUSTOMERS {
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let email = format!(
            "{}.{}{}@example.com",
            first.to_lowercase(),
            last.to_lowercase().replace('\'', ""),
            id
        );
        let day = rng.below(730);
        sqlx::query("INSERT INTO customers VALUES (?, ?, ?, ?, date('2024-01-01', ? || ' days'))")
            .bind(id as i64)
            .bind(format!("{first} {last}"))
            .bind(email)
            .bind(*rng.pick(COUNTRIES))
            .bind(day as i64)
            .execute(&mut *tx)
            .await?;
    }
    let mut prices = Vec::new();
    let mut pid = 0i64;
    for (category, names) in CATEGORIES {
        for name in *names {
            for size in ["S", "M", "L"] {
                pid += 1;
                let price = 300 + rng.below(4700) as i64;
                prices.push(price);
                sqlx::query("INSERT INTO products VALUES (?, ?, ?, ?, ?)")
                    .bind(pid)
                    .bind(format!("{}-{pid:03}-{size}", &category[..3].to_uppercase()))
                    .bind(format!("{name} ({size})"))
                    .bind(*category)
                    .bind(price)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    const ORDERS: i64 = 2500;
    for order in 1..=ORDERS {
        let customer = 1 + rng.below(CUSTOMERS) as i64;
        let lines = 1 + rng.below(4) as i64;
        let mut items = Vec::new();
        let mut total = 0i64;
        for line in 1..=lines {
            let product = 1 + rng.below(prices.len() as u64) as i64;
            let quantity = 1 + rng.below(3) as i64;
            let unit = prices[(product - 1) as usize];
            total += unit * quantity;
            items.push((line, product, quantity, unit));
        }
        let minutes = rng.below(700 * 24 * 60) as i64;
        sqlx::query("INSERT INTO orders VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', '2024-02-01', ? || ' minutes'), ?)")
            .bind(order)
            .bind(customer)
            .bind(*rng.pick(STATUSES))
            .bind(minutes)
            .bind(total)
            .execute(&mut *tx)
            .await?;
        for (line, product, quantity, unit) in items {
            sqlx::query("INSERT INTO order_items VALUES (?, ?, ?, ?, ?)")
                .bind(order)
                .bind(line)
                .bind(product)
                .bind(quantity)
                .bind(unit)
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    conn.close().await?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("moving the sample database to {}", path.display()))?;
    Ok(())
}
