//! Schedules for the operating system: a runbook's `schedule` (5-field cron, UTC) as crontab
//! lines, systemd `.service` + `.timer` pairs, or Windows Task Scheduler task XML.
//!
//! Cron is read here with its classic meaning: minute, hour, day of month, month, day of week
//! (`0`–`7`, Sunday is `0` or `7`; `JAN`…`DEC`, `SUN`…`SAT`), lists, ranges and steps, and the
//! `@daily`-style nicknames. When both day of month and day of week are restricted, cron fires on
//! days matching *either*; systemd and Task Scheduler cannot say that, so such expressions are
//! refused for them, as is anything else they cannot express — never approximated.

use crate::error::{Error, Result};

/// One cron field, expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `*`: every value.
    Any,
    /// The values it matches, sorted, without duplicates.
    Values(Vec<u32>),
}

/// A parsed 5-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// The expression as written.
    pub expression: String,
    /// Minutes, 0–59.
    pub minute: Field,
    /// Hours, 0–23.
    pub hour: Field,
    /// Days of the month, 1–31.
    pub dom: Field,
    /// Months, 1–12.
    pub month: Field,
    /// Days of the week, 0–6, Sunday 0.
    pub dow: Field,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const SYSTEMD_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const WINDOWS_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const WINDOWS_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn refuse(expression: &str, why: &str) -> Error {
    Error::usage(format!("schedule \"{expression}\": {why}")).with_hint(
        "use plain cron fields (numbers, names, lists, ranges, steps), or schedule this runbook by hand",
    )
}

impl Cron {
    /// Parses a cron expression (5 fields or a nickname such as `@daily`).
    pub fn parse(expression: &str) -> Result<Cron> {
        let text = match expression.trim().to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_string(),
            "@monthly" => "0 0 1 * *".to_string(),
            "@weekly" => "0 0 * * 0".to_string(),
            "@daily" | "@midnight" => "0 0 * * *".to_string(),
            "@hourly" => "0 * * * *".to_string(),
            _ => expression.trim().to_string(),
        };
        let parts: Vec<&str> = text.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(refuse(
                expression,
                &format!(
                    "has {} fields; 5 are needed (minute hour day-of-month month day-of-week)",
                    parts.len()
                ),
            ));
        }
        let field = |i: usize, min: u32, max: u32, names: &[&str], base: u32| {
            parse_field(expression, parts[i], min, max, names, base)
        };
        let mut dow = field(4, 0, 7, &DAYS, 0)?;
        if let Field::Values(v) = &mut dow {
            for d in v.iter_mut() {
                *d %= 7;
            }
            v.sort_unstable();
            v.dedup();
            if v.len() == 7 {
                dow = Field::Any;
            }
        }
        Ok(Cron {
            expression: expression.to_string(),
            minute: field(0, 0, 59, &[], 0)?,
            hour: field(1, 0, 23, &[], 0)?,
            dom: field(2, 1, 31, &[], 0)?,
            month: field(3, 1, 12, &MONTHS, 1)?,
            dow,
        })
    }
}

fn parse_field(
    expression: &str,
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
    base: u32,
) -> Result<Field> {
    if text == "*" || text == "?" {
        return Ok(Field::Any);
    }
    let value = |s: &str| -> Result<u32> {
        let upper = s.to_ascii_uppercase();
        if let Some(i) = names.iter().position(|n| *n == upper) {
            return Ok(i as u32 + base);
        }
        let n: u32 = s.parse().map_err(|_| {
            refuse(
                expression,
                &format!("`{s}` is not a plain cron value (L, W and # have no equivalent here)"),
            )
        })?;
        if n < min || n > max {
            return Err(refuse(expression, &format!("{n} is outside {min}–{max}")));
        }
        Ok(n)
    };
    let mut values = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| refuse(expression, &format!("bad step `{s}`")))?;
                (r, step)
            }
            None => (item, 1),
        };
        let (from, to) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if item.contains('/') { max } else { v })
        };
        if from > to {
            return Err(refuse(
                expression,
                &format!("range `{range}` runs backwards"),
            ));
        }
        values.extend((from..=to).step_by(step as usize));
    }
    values.sort_unstable();
    values.dedup();
    Ok(Field::Values(values))
}

/// A list as systemd writes it: `a/step` for a full series from its start, else `a,b,c`.
fn systemd_list(values: &[u32], max: u32, pad: bool) -> String {
    let fmt = |v: u32| {
        if pad {
            format!("{v:02}")
        } else {
            v.to_string()
        }
    };
    if values.len() >= 3 {
        let step = values[1] - values[0];
        let series = values.windows(2).all(|w| w[1] - w[0] == step);
        if series && values[0] < step && values[values.len() - 1] + step > max {
            return format!("{}/{step}", fmt(values[0]));
        }
    }
    values.iter().map(|v| fmt(*v)).collect::<Vec<_>>().join(",")
}

impl Cron {
    /// The systemd `OnCalendar=` value, in UTC, or why it cannot be expressed.
    pub fn on_calendar(&self) -> Result<String> {
        if self.dom != Field::Any && self.dow != Field::Any {
            return Err(refuse(
                &self.expression,
                "cron fires when day-of-month OR day-of-week matches; systemd OnCalendar needs both, so it cannot express this",
            ));
        }
        let part = |f: &Field, max: u32| match f {
            Field::Any => "*".to_string(),
            Field::Values(v) => systemd_list(v, max, true),
        };
        let dow = match &self.dow {
            Field::Any => String::new(),
            Field::Values(v) => format!(
                "{} ",
                v.iter()
                    .map(|d| SYSTEMD_DAYS[*d as usize])
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        Ok(format!(
            "{dow}*-{}-{} {}:{}:00 UTC",
            part(&self.month, 12),
            part(&self.dom, 31),
            part(&self.hour, 23),
            part(&self.minute, 59),
        ))
    }
}

/// Where and how scheduled runs execute.
#[derive(Debug, Clone)]
pub struct Target {
    /// The `runbook` binary to run.
    pub bin: String,
    /// The folder to run in (the project root on the scheduling machine).
    pub workdir: String,
    /// The folder for log files (`<stem>.log`), or `None` for the format's default.
    pub log_dir: Option<String>,
}

/// A scheduled runbook.
#[derive(Debug, Clone)]
pub struct Job {
    /// The runbook path relative to the work folder, `/`-separated.
    pub path: String,
    /// Its title.
    pub title: String,
    /// Its schedule.
    pub cron: Cron,
}

impl Job {
    /// The file stem, used to name units, tasks and log files.
    pub fn stem(&self) -> String {
        let name = self.path.rsplit('/').next().unwrap_or(&self.path);
        name.strip_suffix(".rhai").unwrap_or(name).to_string()
    }
}

/// A generated file: its name and text.
pub type File = (String, String);

/// Quotes for POSIX sh when needed.
fn sh(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-:=@+,".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// A crontab (for `crontab -e` or `/etc/cron.d` without the user column).
pub fn crontab(jobs: &[Job], target: &Target) -> String {
    let log_dir = target
        .log_dir
        .clone()
        .unwrap_or_else(|| ".runbook/logs".into());
    let mut out = String::from(
        "# runbook schedules (generated by `runbook schedule --format cron`).\n\
         # Times are UTC: CRON_TZ is honoured by cronie and systemd-cron; with a cron that ignores\n\
         # it (Debian's Vixie cron), run the machine in UTC or shift the hours.\n\
         CRON_TZ=UTC\n",
    );
    for job in jobs {
        let log = format!("{log_dir}/{}.log", job.stem());
        let command = format!(
            "cd {} && mkdir -p {} && {} run {} >> {} 2>&1",
            sh(&target.workdir),
            sh(&log_dir),
            sh(&target.bin),
            sh(&job.path),
            sh(&log)
        );
        out.push_str(&format!(
            "\n# {}\n{} {}\n",
            job.title,
            job.cron.expression.trim(),
            command.replace('%', "\\%")
        ));
    }
    out
}

/// A `.service` + `.timer` pair per job, or an error for a schedule systemd cannot express.
pub fn systemd(jobs: &[Job], target: &Target) -> Result<Vec<File>> {
    let mut files = Vec::new();
    for job in jobs {
        let calendar = job.cron.on_calendar().map_err(|e| e.context(&job.path))?;
        let unit = format!("runbook-{}", job.stem());
        let logging = match &target.log_dir {
            Some(dir) => format!(
                "StandardOutput=append:{dir}/{stem}.log\nStandardError=append:{dir}/{stem}.log\n",
                stem = job.stem()
            ),
            None => format!("# Output goes to the journal: journalctl -u {unit}\n"),
        };
        files.push((
            format!("{unit}.service"),
            format!(
                "[Unit]\nDescription=runbook: {title}\nWants=network-online.target\nAfter=network-online.target\n\n\
                 [Service]\nType=oneshot\nWorkingDirectory={workdir}\nExecStart={bin} run {path}\n{logging}",
                title = job.title,
                workdir = target.workdir,
                bin = target.bin,
                path = job.path,
            ),
        ));
        files.push((
            format!("{unit}.timer"),
            format!(
                "[Unit]\nDescription=Schedule of {unit} (cron \"{expr}\", UTC)\n\n\
                 [Timer]\nOnCalendar={calendar}\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n",
                expr = job.cron.expression.trim(),
            ),
        ));
    }
    Ok(files)
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The Task Scheduler triggers for a cron expression (UTC start boundaries).
fn windows_triggers(cron: &Cron) -> Result<Vec<String>> {
    let why = |w: &str| {
        refuse(
            &cron.expression,
            &format!("Task Scheduler cannot express this: {w}"),
        )
    };
    // Times of day, each with an optional repetition interval in minutes.
    let mut times: Vec<(u32, u32, Option<u32>)> = Vec::new();
    match (&cron.hour, &cron.minute) {
        (Field::Values(hours), Field::Values(minutes)) => {
            for h in hours {
                for m in minutes {
                    times.push((*h, *m, None));
                }
            }
        }
        (Field::Any, minutes) => {
            let minutes = match minutes {
                Field::Any => (0..60).collect(),
                Field::Values(v) => v.clone(),
            };
            let step = if minutes.len() > 1 {
                minutes[1] - minutes[0]
            } else {
                60
            };
            let series = minutes.windows(2).all(|w| w[1] - w[0] == step)
                && 60 % step == 0
                && minutes[0] < step;
            if series {
                times.push((0, minutes[0], Some(step)));
            } else {
                for m in minutes {
                    times.push((0, m, Some(60)));
                }
            }
        }
        (Field::Values(_), Field::Any) => return Err(why("every minute within some hours")),
    }
    if times.len() > 48 {
        return Err(why("more than 48 start times a day"));
    }
    let schedule = match (&cron.dom, &cron.month, &cron.dow) {
        (Field::Any, Field::Any, Field::Any) => {
            "<ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>".to_string()
        }
        (Field::Any, Field::Any, Field::Values(days)) => format!(
            "<ScheduleByWeek><WeeksInterval>1</WeeksInterval><DaysOfWeek>{}</DaysOfWeek></ScheduleByWeek>",
            days.iter()
                .map(|d| format!("<{}/>", WINDOWS_DAYS[*d as usize]))
                .collect::<String>()
        ),
        (dom, month, Field::Any) => {
            let days: Vec<u32> = match dom {
                Field::Any => (1..=31).collect(),
                Field::Values(v) => v.clone(),
            };
            let months: Vec<u32> = match month {
                Field::Any => (1..=12).collect(),
                Field::Values(v) => v.clone(),
            };
            format!(
                "<ScheduleByMonth><DaysOfMonth>{}</DaysOfMonth><Months>{}</Months></ScheduleByMonth>",
                days.iter().map(|d| format!("<Day>{d}</Day>")).collect::<String>(),
                months
                    .iter()
                    .map(|m| format!("<{}/>", WINDOWS_MONTHS[*m as usize - 1]))
                    .collect::<String>()
            )
        }
        (Field::Any, Field::Values(_), Field::Values(_)) => {
            return Err(why("days of the week restricted to some months"))
        }
        _ => {
            return Err(why(
                "cron fires when day-of-month OR day-of-week matches; a trigger needs one or the other",
            ))
        }
    };
    Ok(times
        .into_iter()
        .map(|(h, m, repeat)| {
            let repetition = match repeat {
                Some(every) => format!(
                    "\n      <Repetition><Interval>PT{every}M</Interval><Duration>P1D</Duration><StopAtDurationEnd>false</StopAtDurationEnd></Repetition>"
                ),
                None => String::new(),
            };
            format!(
                "    <CalendarTrigger>\n      <StartBoundary>2026-01-01T{h:02}:{m:02}:00Z</StartBoundary>{repetition}\n      {schedule}\n    </CalendarTrigger>\n"
            )
        })
        .collect())
}

/// A Task Scheduler XML file per job (times in UTC: the start boundaries end in `Z`), or an
/// error for a schedule a trigger cannot express.
pub fn windows(jobs: &[Job], target: &Target) -> Result<Vec<File>> {
    let log_dir = target
        .log_dir
        .clone()
        .unwrap_or_else(|| ".runbook\\logs".into());
    let mut files = Vec::new();
    for job in jobs {
        let triggers = windows_triggers(&job.cron).map_err(|e| e.context(&job.path))?;
        let path = job.path.replace('/', "\\");
        let log = format!("{log_dir}\\{}.log", job.stem());
        let arguments = format!(
            "/d /c \"mkdir \"{log_dir}\" 2&gt;nul &amp; \"{bin}\" run \"{path}\" &gt;&gt; \"{log}\" 2&gt;&amp;1\"",
            log_dir = xml(&log_dir),
            bin = xml(&target.bin),
            path = xml(&path),
            log = xml(&log),
        );
        let text = [
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>".to_string(),
            "<Task version=\"1.2\" xmlns=\"http://schemas.microsoft.com/windows/2004/02/mit/task\">".into(),
            "  <RegistrationInfo>".into(),
            format!(
                "    <Description>runbook: {} (cron \"{}\", UTC)</Description>",
                xml(&job.title),
                xml(job.cron.expression.trim())
            ),
            "  </RegistrationInfo>".into(),
            "  <Triggers>".into(),
            triggers.concat().trim_end().to_string(),
            "  </Triggers>".into(),
            "  <Principals>".into(),
            "    <Principal id=\"Author\">".into(),
            "      <UserId>S-1-5-18</UserId>".into(),
            "      <RunLevel>HighestAvailable</RunLevel>".into(),
            "    </Principal>".into(),
            "  </Principals>".into(),
            "  <Settings>".into(),
            "    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>".into(),
            "    <StartWhenAvailable>true</StartWhenAvailable>".into(),
            "    <ExecutionTimeLimit>PT12H</ExecutionTimeLimit>".into(),
            "  </Settings>".into(),
            "  <Actions Context=\"Author\">".into(),
            "    <Exec>".into(),
            "      <Command>cmd.exe</Command>".into(),
            format!("      <Arguments>{arguments}</Arguments>"),
            format!(
                "      <WorkingDirectory>{}</WorkingDirectory>",
                xml(&target.workdir)
            ),
            "    </Exec>".into(),
            "  </Actions>".into(),
            "</Task>".into(),
        ];
        files.push((
            format!("runbook-{}.xml", job.stem()),
            format!("{}\n", text.join("\n")),
        ));
    }
    Ok(files)
}

/// The `schtasks` command that registers a task file written by [`windows`].
pub fn schtasks_command(file: &str) -> String {
    let stem = file.strip_suffix(".xml").unwrap_or(file);
    let task = stem.strip_prefix("runbook-").unwrap_or(stem);
    format!("schtasks /Create /TN \"runbook\\{task}\" /XML \"{file}\" /F")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(expr: &str) -> Result<String> {
        Cron::parse(expr)?.on_calendar()
    }

    #[test]
    fn cron_becomes_on_calendar() {
        assert_eq!(cal("0 2 * * *").unwrap(), "*-*-* 02:00:00 UTC");
        assert_eq!(cal("0 3 * * 0").unwrap(), "Sun *-*-* 03:00:00 UTC");
        assert_eq!(cal("0 3 * * SUN").unwrap(), "Sun *-*-* 03:00:00 UTC");
        assert_eq!(cal("0 3 * * 7").unwrap(), "Sun *-*-* 03:00:00 UTC");
        assert_eq!(cal("*/15 * * * *").unwrap(), "*-*-* *:00/15:00 UTC");
        assert_eq!(cal("30 4 1 1,4,7,10 *").unwrap(), "*-01/3-01 04:30:00 UTC");
        assert_eq!(cal("30 4 1 1,6 *").unwrap(), "*-01,06-01 04:30:00 UTC");
        assert_eq!(cal("5/20 * * * *").unwrap(), "*-*-* *:05/20:00 UTC");
        assert_eq!(
            cal("0 9 * * 1-5").unwrap(),
            "Mon,Tue,Wed,Thu,Fri *-*-* 09:00:00 UTC"
        );
        assert_eq!(cal("@daily").unwrap(), "*-*-* 00:00:00 UTC");
    }

    #[test]
    fn inexpressible_cron_is_refused_with_the_reason() {
        let err = cal("0 3 1 * 1").unwrap_err();
        assert!(err.message().contains("OR day-of-week"), "{err}");
        assert!(Cron::parse("0 3 L * *").is_err());
        assert!(Cron::parse("0 0 3 * * *").is_err());
        assert!(Cron::parse("61 * * * *").is_err());
    }

    #[test]
    fn windows_triggers_cover_daily_weekly_monthly_and_repeats() {
        let t = windows_triggers(&Cron::parse("0 2 * * *").unwrap()).unwrap();
        assert!(t[0].contains("T02:00:00Z") && t[0].contains("ScheduleByDay"));
        let t = windows_triggers(&Cron::parse("0 3 * * 0").unwrap()).unwrap();
        assert!(t[0].contains("<Sunday/>"));
        let t = windows_triggers(&Cron::parse("*/15 * * * *").unwrap()).unwrap();
        assert!(t[0].contains("PT15M") && t.len() == 1);
        assert!(windows_triggers(&Cron::parse("* 2 * * *").unwrap()).is_err());
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh("/srv/ops"), "/srv/ops");
        assert_eq!(sh("/srv/my ops"), "'/srv/my ops'");
        assert_eq!(sh("it's"), "'it'\\''s'");
    }
}
