//! The migrations, embedded in the binary. `schema/postgres/` and
//! `schema/sqlite/` hold files with the same names; the lists here must name
//! every file in them (a unit test checks both).

/// One migration: its version (the file stem) and its SQL.
pub struct Migration {
    pub version: &'static str,
    pub sql: &'static str,
}

macro_rules! migrations {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(Migration {
            version: $name,
            sql: include_str!(concat!("../../schema/", $dir, "/", $name, ".sql")),
        }),*]
    };
}

pub const POSTGRES: &[Migration] = migrations!("postgres": "0001_accounts_and_conferences", "0002_rooms_and_history", "0003_contacts", "0004_server_nodes", "0005_waiting_room", "0006_api_keys", "0007_webhooks", "0008_export_and_audit_chain", "0009_retention", "0010_organisations", "0011_encryption_at_rest", "0012_organisation_retention_and_chain");
pub const SQLITE: &[Migration] = migrations!("sqlite": "0001_accounts_and_conferences", "0002_rooms_and_history", "0003_contacts", "0004_server_nodes", "0005_waiting_room", "0006_api_keys", "0007_webhooks", "0008_export_and_audit_chain", "0009_retention", "0010_organisations", "0011_encryption_at_rest", "0012_organisation_retention_and_chain");

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn files(dir: &str) -> BTreeSet<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("schema")
            .join(dir);
        std::fs::read_dir(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect()
    }

    fn listed(list: &[Migration]) -> BTreeSet<String> {
        list.iter().map(|m| format!("{}.sql", m.version)).collect()
    }

    #[test]
    fn both_folders_hold_the_same_migration_names() {
        assert_eq!(files("postgres"), files("sqlite"));
    }

    #[test]
    fn every_file_is_embedded_in_order() {
        assert_eq!(files("postgres"), listed(POSTGRES));
        assert_eq!(files("sqlite"), listed(SQLITE));
        let versions: Vec<_> = POSTGRES.iter().map(|m| m.version).collect();
        let mut sorted = versions.clone();
        sorted.sort();
        assert_eq!(versions, sorted, "migrations are listed in version order");
    }
}
