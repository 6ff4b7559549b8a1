//! The readable report: `ok   NAME  (N steps)` per scenario, `FAIL NAME  (N steps)` followed by
//! the first step that failed and each expectation that did not hold.

use super::{Outcome, ScenarioResult};

impl ScenarioResult {
    /// This scenario's lines of the report.
    pub(crate) fn render(&self) -> String {
        let steps = format!("({} step{})", self.steps, if self.steps == 1 { "" } else { "s" });
        match &self.outcome {
            Outcome::Passed => format!("ok   {}  {steps}\n", self.name),
            Outcome::Failed(f) => {
                let mut out = format!("FAIL {}  {steps}\n", self.name);
                match f.line {
                    Some(l) => out.push_str(&format!("     at {}, line {l}:\n", f.at)),
                    None => out.push_str(&format!("     at {}:\n", f.at)),
                }
                for d in &f.differences {
                    out.push_str(&format!("       {d}\n"));
                }
                for r in &f.rejection {
                    out.push_str(&format!("       {r}\n"));
                }
                out
            }
            Outcome::Invalid(message) => {
                let mut out = format!("FAIL {}  (cannot run)\n", self.name);
                for line in message.lines() {
                    out.push_str(&format!("     {line}\n"));
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Failure, Outcome, ScenarioResult, Summary};
    use std::path::PathBuf;

    #[test]
    fn the_report_shape() {
        let ok = ScenarioResult {
            path: PathBuf::from("a.toml"),
            name: "retail/a.toml".into(),
            steps: 7,
            outcome: Outcome::Passed,
        };
        let bad = ScenarioResult {
            path: PathBuf::from("b.toml"),
            name: "retail/b.toml".into(),
            steps: 1,
            outcome: Outcome::Failed(Failure {
                at: "step 1 (event void)".into(),
                line: Some(12),
                differences: vec!["status: expected `voided`, got `shipped`".into()],
                rejection: vec!["refused: no_transition: nope".into()],
            }),
        };
        let s = Summary { results: vec![ok, bad] };
        assert_eq!(
            s.render(),
            "ok   retail/a.toml  (7 steps)\n\
             FAIL retail/b.toml  (1 step)\n     at step 1 (event void), line 12:\n       \
             status: expected `voided`, got `shipped`\n       refused: no_transition: nope\n\
             1 passed, 1 failed\n"
        );
    }
}
