//! `env`: the environment the CLI and the functions would use, as `KEY=VALUE` lines (shell-quoted,
//! for `eval "$(portcullis --local env)"`) or as one JSON object (`{"KEY": "VALUE", ...}`), so that
//! scripts read the local stack's names and values from this one place.
//!
//! Only the variables of the local stack's list ([`settings::local_stack`]) are printed, each as
//! the environment sets it (with `--local`, the local stack's value for any that is not set);
//! unset and empty ones are left out. `AWS_SECRET_ACCESS_KEY` is printed only when it is the
//! local stack's own (`test`); any other value is withheld, and the text says so in a comment.
use crate::output::Render;
use portcullis_core::settings;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Variables printed only when they hold the local stack's value.
const SECRET_VARS: &[&str] = &["AWS_SECRET_ACCESS_KEY"];

#[derive(Debug, PartialEq, Eq)]
pub struct Environment {
    /// In the order of the local stack's list.
    pub vars: Vec<(&'static str, String)>,
    /// Set, but not printed: a real credential.
    pub withheld: Vec<&'static str>,
}

impl Serialize for Environment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.vars.len()))?;
        for (k, v) in &self.vars {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Render for Environment {
    fn text(&self) -> String {
        let vars = self
            .vars
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_quote(v)));
        let withheld = self
            .withheld
            .iter()
            .map(|k| format!("# {k} is set but not shown: it is not the local stack's value"));
        vars.chain(withheld).collect::<Vec<_>>().join("\n")
    }
}

/// The environment as `get` resolves it (the process environment, after `--local`'s defaults).
pub fn run(get: impl Fn(&str) -> Option<String>) -> Environment {
    let mut env = Environment {
        vars: Vec::new(),
        withheld: Vec::new(),
    };
    for (name, local_value) in settings::local_stack(settings::LOCAL_PORT, settings::LOCAL_AWS_PORT)
    {
        let Some(value) = get(name).filter(|v| !v.is_empty()) else {
            continue;
        };
        if SECRET_VARS.contains(&name) && value != local_value {
            env.withheld.push(name);
        } else {
            env.vars.push((name, value));
        }
    }
    env
}

pub use portcullis_core::settings::shell_quote;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::tests::lookup;
    use crate::output::render;
    use portcullis_core::settings::env as vars;

    fn local() -> Vec<(&'static str, String)> {
        settings::local_stack(settings::LOCAL_PORT, settings::LOCAL_AWS_PORT)
    }

    #[test]
    fn plain_values_stay_bare_and_others_are_single_quoted() {
        assert_eq!(
            shell_quote("http://127.0.0.1:9000"),
            "http://127.0.0.1:9000"
        );
        assert_eq!(shell_quote("portcullis-keys"), "portcullis-keys");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("~/x"), "'~/x'");
        assert_eq!(shell_quote("a;rm -rf /"), "'a;rm -rf /'");
        assert_eq!(shell_quote("é"), "'é'");
    }

    /// What a shell reads back from `KEY=<quoted>` is the value itself.
    #[test]
    fn a_shell_reads_back_the_exact_value() {
        for value in [
            "plain",
            "it's a 'test'",
            "$(touch /nonexistent) `id` $HOME \\ \" ! * ?",
            "line1\nline2",
            "~/x",
            "[\"a\",{\"b\":1}]",
        ] {
            let line = format!("V={}", shell_quote(value));
            let out = std::process::Command::new("sh")
                .args(["-c", "eval \"$1\"; printf %s \"$V\"", "sh", &line])
                .output()
                .expect("run sh");
            assert!(out.status.success(), "{line}");
            assert_eq!(String::from_utf8(out.stdout).unwrap(), value, "{line}");
        }
    }

    #[test]
    fn the_local_stack_prints_every_variable_of_its_list_in_order() {
        let stack = local();
        let all: Vec<(&str, &str)> = stack.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let env = run(lookup(&all));
        assert_eq!(env.vars, local());
        assert!(env.withheld.is_empty());
        let text = render(&env, false).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), local().len());
        assert_eq!(lines[0], "PORTCULLIS_PORT=9000");
        assert!(lines.contains(&"PORTCULLIS_ISSUER=http://127.0.0.1:9000"));
        assert!(lines.contains(&"AWS_SECRET_ACCESS_KEY=test"));
        let json: serde_json::Value = serde_json::from_str(&render(&env, true).unwrap()).unwrap();
        let obj = json.as_object().unwrap();
        assert_eq!(obj.len(), local().len());
        assert_eq!(obj["AWS_ENDPOINT_URL"], "http://127.0.0.1:5000");
        assert_eq!(obj[vars::SECRET_ID], "portcullis-keys");
        assert_eq!(obj[vars::MINT_SECRET_ID], "portcullis-mint-key");
        assert_eq!(obj[vars::TAG_SECRET_ID], "portcullis-tag-key");
        assert_eq!(obj[vars::ACCESS_TAG_SECRET_ID], "portcullis-access-tag-key");
    }

    #[test]
    fn the_environment_overrides_and_unset_or_empty_variables_are_left_out() {
        let env = run(lookup(&[
            (vars::CLIENTS_TABLE, "prod clients"),
            (vars::ISSUER, ""),
            ("AWS_REGION", "eu-west-1"),
            (vars::SCOPES, "[]"),
            ("AWS_SESSION_TOKEN", "tok"),
        ]));
        assert_eq!(
            env.vars,
            [
                (vars::CLIENTS_TABLE, "prod clients".to_string()),
                ("AWS_REGION", "eu-west-1".to_string()),
            ]
        );
        assert_eq!(
            render(&env, false).unwrap(),
            "PORTCULLIS_CLIENTS_TABLE='prod clients'\nAWS_REGION=eu-west-1"
        );
        assert_eq!(
            render(&env, true).unwrap(),
            r#"{"PORTCULLIS_CLIENTS_TABLE":"prod clients","AWS_REGION":"eu-west-1"}"#
        );
    }

    #[test]
    fn a_real_secret_access_key_is_never_printed() {
        let env = run(lookup(&[
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG"),
        ]));
        assert_eq!(env.withheld, ["AWS_SECRET_ACCESS_KEY"]);
        for json in [false, true] {
            let out = render(&env, json).unwrap();
            assert!(!out.contains("wJalrXUtnFEMI"), "{out}");
        }
        assert_eq!(
            render(&env, false).unwrap(),
            "AWS_ACCESS_KEY_ID=AKIAEXAMPLE\n\
             # AWS_SECRET_ACCESS_KEY is set but not shown: it is not the local stack's value"
        );
        assert_eq!(
            render(&env, true).unwrap(),
            r#"{"AWS_ACCESS_KEY_ID":"AKIAEXAMPLE"}"#
        );
    }
}
