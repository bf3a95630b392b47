//! Progress of long work on the terminal (MD steps, relaxation steps): a progress bar when standard output is a
//! terminal, with table rows printed above it; the rows alone when the output is redirected (a log file of a
//! background run); nothing when quiet.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct Progress {
    quiet: bool,
    bar: ProgressBar,
}

impl Progress {
    /// A bar of `total` steps; `template` is indicatif's (e.g. `"{bar:40} {pos}/{len} steps  eta {eta}"`).
    pub fn new(quiet: bool, total: u64, template: &str) -> Progress {
        let bar = if quiet || !std::io::stdout().is_terminal() {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden())
        } else {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        };
        Progress { quiet, bar }
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Prints a table row above the bar (plainly when the bar is hidden); nothing when quiet.
    pub fn println(&self, line: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        if self.bar.is_hidden() {
            println!("{}", line.as_ref());
        } else {
            self.bar.println(line.as_ref());
        }
    }

    pub fn set_position(&self, step: u64) {
        self.bar.set_position(step);
    }

    pub fn inc(&self, steps: u64) {
        self.bar.inc(steps);
    }

    pub fn set_message(&self, message: String) {
        self.bar.set_message(message);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
