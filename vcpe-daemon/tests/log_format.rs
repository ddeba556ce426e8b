//! `vcped`'s log format switch, on the real binary: `--log-format json`
//! (before or after `run`) and `VCPE_LOG_FORMAT=json` give one JSON object
//! per stderr line with `level` and `message`; the default is human text.
//! Driven by a start-up that fails (a config file that does not exist), so
//! no root, TUN or network is needed.

use std::process::{Command, Output};

use serde_json::Value;

fn vcped(args: &[&str], env: Option<(&str, &str)>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vcped"));
    cmd.args(args)
        .env_remove("VCPE_LOG_FORMAT")
        .env_remove("RUST_LOG");
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    cmd.output().expect("vcped runs")
}

const MISSING: &str = "/nonexistent/vcpe-log-format-test.toml";

fn json_lines(out: &Output) -> Vec<Value> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.trim().is_empty(), "vcped logged nothing");
    stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect()
}

fn assert_config_error(lines: &[Value]) {
    let error = lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no ERROR line in {lines:?}"));
    let message = error["message"].as_str().expect("message is a string");
    assert!(
        message.contains(MISSING) && message.contains("check-config"),
        "{message}"
    );
    for l in lines {
        assert!(l["level"].is_string() && l["message"].is_string(), "{l}");
        assert!(l["timestamp"].is_string(), "{l}");
    }
}

#[test]
fn log_format_json_flag_after_run_gives_json_lines() {
    let out = vcped(&["run", "--log-format", "json", "--config", MISSING], None);
    assert_eq!(out.status.code(), Some(1));
    assert_config_error(&json_lines(&out));
}

#[test]
fn log_format_json_flag_before_run_and_env_give_json_lines() {
    let out = vcped(&["--log-format", "json", "run", "--config", MISSING], None);
    assert_config_error(&json_lines(&out));
    let out = vcped(
        &["run", "--config", MISSING],
        Some(("VCPE_LOG_FORMAT", "json")),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_config_error(&json_lines(&out));
}

#[test]
fn default_log_format_is_human_text() {
    let out = vcped(&["run", "--config", MISSING], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains("ERROR") && first.contains(MISSING),
        "{stderr}"
    );
    assert!(serde_json::from_str::<Value>(first).is_err(), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "colour in a non-terminal: {stderr:?}"
    );
}

#[test]
fn an_unknown_log_format_is_a_usage_error_naming_the_choices() {
    let out = vcped(&["run", "--log-format", "xml", "--config", MISSING], None);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("human") && stderr.contains("json"),
        "{stderr}"
    );
}
