//! The learning curve, written as training goes: one `learning_curve.csv` row per Adam epoch or L-BFGS
//! iteration, flushed at once (a crashed or killed run keeps every row it reached), and the same numbers as
//! a table on standard output.

use super::model::Errors;
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

const HEADER: &str = "epoch,optimizer,learning_rate,train_loss,train_energy_rmse_mev_per_atom,\
                      train_force_rmse_mev_per_a,test_loss,test_energy_rmse_mev_per_atom,test_force_rmse_mev_per_a";

/// An open `learning_curve.csv`.
pub struct LearningCurve {
    path: PathBuf,
    file: std::fs::File,
    /// Print each row as a table line on standard output.
    echo: bool,
}

impl LearningCurve {
    /// Creates (truncates) `path` and writes the header; with `echo`, prints the table header too.
    pub fn create(path: &Path, echo: bool) -> anyhow::Result<LearningCurve> {
        let mut file = crate::io::create_output_file(path)?;
        writeln!(file, "{HEADER}").with_context(|| format!("writing {}", path.display()))?;
        if echo {
            println!(
                "{:>6} {:>9} {:>10} {:>12} {:>12} {:>12} {:>12}",
                "epoch", "optimizer", "rate/step", "train E", "train F", "test E", "test F"
            );
            println!(
                "{:>6} {:>9} {:>10} {:>12} {:>12} {:>12} {:>12}",
                "", "", "", "meV/atom", "meV/Å", "meV/atom", "meV/Å"
            );
        }
        Ok(LearningCurve { path: path.to_path_buf(), file, echo })
    }

    /// Appends one row; `rate` is Adam's learning rate or the length of the L-BFGS step.
    pub fn row(
        &mut self,
        position: usize,
        optimizer: &str,
        rate: f64,
        train: &Errors,
        test: &Errors,
    ) -> anyhow::Result<()> {
        let (train_e, train_f) = (train.energy_rmse_ev_per_atom * 1e3, train.force_rmse_ev_per_a * 1e3);
        let (test_e, test_f) = (test.energy_rmse_ev_per_atom * 1e3, test.force_rmse_ev_per_a * 1e3);
        writeln!(
            self.file,
            "{position},{optimizer},{rate:e},{:e},{train_e:.6},{train_f:.6},{:e},{test_e:.6},{test_f:.6}",
            train.loss, test.loss
        )
        .and_then(|_| self.file.flush())
        .with_context(|| format!("writing {}", self.path.display()))?;
        if self.echo {
            println!(
                "{position:>6} {optimizer:>9} {rate:>10.3e} {train_e:>12.3} {train_f:>12.2} {test_e:>12.3} {test_f:>12.2}"
            );
        }
        Ok(())
    }
}
