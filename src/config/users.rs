//! Staff users of the browser faces (the studio, the console): `[[users]]` tables in
//! `orderly.toml`, each a name, an argon2 password hash (PHC string, as `orderly user add`
//! writes it) and a role. A role is a set of the API's scopes: the built-in ones below, or the
//! file's own `[roles]` table (`packer = ["orders:read", "events:write"]`), which may also
//! redefine a built-in one.

use super::Scope;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;

/// A staff user.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The login name; recorded as the actor of everything the user does.
    pub name: String,
    /// The argon2 hash of the password (a PHC string: `$argon2id$v=19$...`).
    pub password_hash: String,
    /// The role's name.
    pub role: String,
    /// What the role may do.
    pub scopes: Vec<Scope>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("name", &self.name).field("role", &self.role).finish_non_exhaustive()
    }
}

impl User {
    /// Whether the user's role has `scope`; `admin` allows everything.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }
}

/// The built-in roles and their scopes, in the order they are documented.
pub const BUILT_IN_ROLES: [(&str, &[Scope]); 4] = [
    ("viewer", &[Scope::OrdersRead, Scope::WorkflowsRead]),
    ("clerk", &[Scope::OrdersRead, Scope::OrdersWrite, Scope::EventsWrite, Scope::WorkflowsRead]),
    (
        "manager",
        &[
            Scope::OrdersRead,
            Scope::OrdersWrite,
            Scope::EventsWrite,
            Scope::WorkflowsRead,
            Scope::MetricsRead,
        ],
    ),
    ("admin", &[Scope::Admin]),
];

/// The roles a file may name: the built-in ones, then its own `[roles]` (which win).
pub(super) fn roles(own: &BTreeMap<String, Vec<Scope>>) -> BTreeMap<String, Vec<Scope>> {
    let mut all: BTreeMap<String, Vec<Scope>> =
        BUILT_IN_ROLES.iter().map(|(name, scopes)| ((*name).to_string(), scopes.to_vec())).collect();
    all.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
}

/// A `[[users]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a user (`name`, `password_hash`, `role`)")]
pub(super) struct RawUser {
    name: String,
    password_hash: String,
    role: String,
}

/// Checks the users (`span` locates each in the file): unique names, a hash argon2 can read, a
/// role that exists.
pub(super) fn users_from(
    raw: impl IntoIterator<Item = (Range<usize>, RawUser)>,
    roles: &BTreeMap<String, Vec<Scope>>,
) -> Result<Vec<User>, (Range<usize>, String)> {
    let mut users: Vec<User> = Vec::new();
    for (span, u) in raw {
        let fail = |m: String| Err((span.clone(), m));
        let name = u.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return fail("a user's `name` must be 1 to 100 characters, without control characters".into());
        }
        if users.iter().any(|other| other.name == name) {
            return fail(format!("two users are named `{name}`: user names must be unique"));
        }
        if PasswordHash::new(u.password_hash.trim()).is_err() {
            return fail(format!(
                "user `{name}`: `password_hash` is not an argon2 hash; write it with `orderly user add {name} --role {}`",
                u.role
            ));
        }
        let role = u.role.trim();
        let Some(scopes) = roles.get(role) else {
            let names: Vec<&str> = roles.keys().map(String::as_str).collect();
            let hint = crate::diagnostics::did_you_mean(role, names.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            return fail(format!(
                "user `{name}` has role `{role}`, which is not a role{hint}: the roles are {}",
                names.join(", ")
            ));
        };
        users.push(User {
            name: name.to_string(),
            password_hash: u.password_hash.trim().to_string(),
            role: role.to_string(),
            scopes: scopes.clone(),
        });
    }
    Ok(users)
}

/// The shortest password `orderly user add` takes.
pub const MIN_PASSWORD: usize = 10;

/// Hashes a password with argon2id (the crate's default parameters: 19 MiB, 2 passes) and a
/// random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches `hash` (argon2 compares in constant time).
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash no password matches, verified when a login names no user, so that the answer takes as
/// long as for a wrong password and does not tell which names exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("no password is this one: a decoy").unwrap_or_default())
}

/// Adds (or, with `replace`, replaces) a user in the configuration file's text, keeping the
/// rest of the file as written (comments included). Returns the new text.
pub fn add_to_file(
    text: &str,
    name: &str,
    role: &str,
    password_hash: &str,
    replace: bool,
) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut =
        text.parse().map_err(|e| format!("the configuration file is not valid TOML: {e}"))?;
    let users = doc
        .entry("users")
        .or_insert_with(|| toml_edit::Item::ArrayOfTables(toml_edit::ArrayOfTables::new()))
        .as_array_of_tables_mut()
        .ok_or("`users` in the configuration file must be `[[users]]` tables (two brackets)")?;
    let existing = users.iter().position(|t| t.get("name").and_then(|n| n.as_str()) == Some(name));
    let mut table = toml_edit::Table::new();
    table.insert("name", toml_edit::value(name));
    table.insert("password_hash", toml_edit::value(password_hash));
    table.insert("role", toml_edit::value(role));
    match existing {
        Some(_) if !replace => {
            return Err(format!(
                "user `{name}` exists already; give `--replace` to set a new password and role"
            ))
        }
        Some(i) => {
            if let Some(t) = users.get_mut(i) {
                *t = table;
            }
        }
        None => users.push(table),
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse batterY"));
        assert!(!verify_password(decoy_hash(), "correct horse battery"));
        assert!(!verify_password("not a hash", ""));
    }

    #[test]
    fn adding_a_user_keeps_the_file_and_refuses_a_second_one_of_the_same_name() {
        let text = "# my service\nbind = \"127.0.0.1:9000\"\n";
        let once = add_to_file(text, "ana", "clerk", "$argon2id$x", false).unwrap();
        assert!(once.starts_with("# my service\nbind = \"127.0.0.1:9000\"\n"), "{once}");
        assert!(
            once.contains("[[users]]\nname = \"ana\"\npassword_hash = \"$argon2id$x\"\nrole = \"clerk\""),
            "{once}"
        );
        let err = add_to_file(&once, "ana", "admin", "$argon2id$y", false).unwrap_err();
        assert!(err.contains("exists already"), "{err}");
        let twice = add_to_file(&once, "ana", "admin", "$argon2id$y", true).unwrap();
        assert_eq!(twice.matches("[[users]]").count(), 1, "{twice}");
        assert!(twice.contains("role = \"admin\""), "{twice}");
    }
}
