//! The settings schema: every setting the dashboard edits is one line of the
//! [`settings!`] invocation in `dashboard.rs`. That line defines the wire field of
//! [`crate::Settings`], the configuration-file key it is stored under (and so its
//! `GHOSTSTREAM__SECTION__KEY` environment variable), whether a save applies it now or at
//! the next server start, and how the dashboard's form shows it ([`SETTING_FIELDS`],
//! exported to the UI's bindings). The server reads, writes and applies settings only
//! through this table.

use serde::Serialize;

/// When a saved value takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Takes {
    Now,
    Restart,
}

/// How the wire value is stored in the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Codec {
    /// The same value (a missing or empty optional value removes the key).
    Same,
    /// A boolean in the file; `on`/`off` on the wire.
    Flag { on: &'static str, off: &'static str },
}

/// How the dashboard's form edits a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "of")]
pub enum Input {
    Number {
        min: u32,
        max: u32,
    },
    /// One of these values, with their labels.
    Choice(&'static [(&'static str, &'static str)]),
    /// Text shown as dots; empty means none.
    Secret,
    /// A list of strings, one per line.
    Lines,
    Toggle,
    /// Weekly windows, edited as a week grid.
    Schedule,
}

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SettingField {
    /// The field of [`crate::Settings`].
    pub name: &'static str,
    /// `section.key` in the configuration file.
    pub key: &'static str,
    #[serde(skip)]
    pub codec: Codec,
    pub takes: Takes,
    pub label: &'static str,
    pub input: Input,
}

impl SettingField {
    /// The environment variable that sets this key.
    pub fn env_var(&self) -> String {
        format!(
            "GHOSTSTREAM__{}",
            self.key.replace('.', "__").to_ascii_uppercase()
        )
    }
}

/// Defines [`crate::Settings`] and [`SETTING_FIELDS`] from one list.
macro_rules! settings {
    ($(
        $(#[$meta:meta])*
        $name:ident : $ty:ty = $key:literal $(as $codec:expr)?, $takes:ident, $label:literal, $input:expr;
    )*) => {
        /// What the Settings view edits. Saved to the configuration file.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "specta", derive(specta::Type))]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub struct Settings {
            $( $(#[$meta])* pub $name: $ty, )*
        }

        /// Every setting, in the order the dashboard shows them.
        pub const SETTING_FIELDS: &[$crate::settings::SettingField] = &[$(
            $crate::settings::SettingField {
                name: stringify!($name),
                key: $key,
                codec: settings!(@codec $($codec)?),
                takes: $crate::settings::Takes::$takes,
                label: $label,
                input: $input,
            },
        )*];
    };
    (@codec) => { $crate::settings::Codec::Same };
    (@codec $c:expr) => { $c };
}
