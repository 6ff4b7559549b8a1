//! The stable code of every finding the checker and the hook loader make. Codes are part of the
//! contract with merchants and tools (`orderly check --error-format json`, reload reports): each
//! has a row in docs/language.md (or docs/hooks.md for `hook-*`) and a golden file in
//! tests/diagnostics/, and tests/it/codes.rs walks this enum to hold both true.

use serde::Serialize;

/// What kind of finding a [`Diagnostic`](crate::diagnostics::Diagnostic) is, written in
/// kebab-case (`unknown-status`) wherever it is shown.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    strum::IntoStaticStr,
    strum::EnumIter,
    strum::EnumString,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Code {
    /// The text does not follow the language at this spot.
    Syntax,
    /// The checker stopped reading a file after 50 syntax errors.
    TooManyErrors,
    /// A condition nested too deeply or too long.
    TooDeep,
    /// The file has no `workflow` line.
    MissingWorkflow,
    /// Something declared twice.
    Duplicate,
    /// Two workflows sharing a channel both are its default.
    DuplicateDefault,
    /// A workflow without a channel.
    NoChannel,
    /// A status that is not declared.
    UnknownStatus,
    /// An event that is not declared.
    UnknownEvent,
    /// A flag that is not declared.
    UnknownFlag,
    /// An attribute that is not declared.
    UnknownAttribute,
    /// A timer that is not declared.
    UnknownTimer,
    /// A webhook that is not declared.
    UnknownWebhook,
    /// A fulfillment action that is not in the workflow's list.
    UnknownAction,
    /// A type that does not exist.
    UnknownType,
    /// An event kind (`is ...`) that does not exist.
    UnknownEventKind,
    /// A field that does not exist, or that a channel cannot require.
    UnknownField,
    /// A code that is not one of a field's values.
    UnknownCode,
    /// A settings key that does not exist.
    UnknownSetting,
    /// A setting with the wrong kind of value.
    InvalidSetting,
    /// A duration with an unknown unit, zero, or too long.
    InvalidDuration,
    /// A number too large to hold.
    InvalidNumber,
    /// A hook reference that is not a file name in `hooks/`.
    InvalidHook,
    /// A hook file that is not in `hooks/`.
    UnknownHook,
    /// An email template with an empty name.
    InvalidTemplate,
    /// An email template with no file.
    UnknownTemplate,
    /// `renamed OLD -> NEW` where `OLD` is still declared.
    InvalidRename,
    /// An event field every event already has.
    ReservedField,
    /// Values of different kinds compared or combined, or a value where a condition goes.
    TypeMismatch,
    /// `event.*` where there is no event.
    NoEvent,
    /// `line.*` outside an aggregate over lines.
    LineOutsideAggregate,
    /// An aggregate over lines inside another.
    NestedAggregate,
    /// An aggregate over lines without its condition.
    MissingCondition,
    /// `set` on something other than an attribute.
    NotSettable,
    /// A channel rule both unpaid and paid.
    Contradiction,
    /// A combination of mode, payment method and outcome no channel rule takes.
    UncoveredOutcome,
    /// A channel rule earlier rules always take first.
    UnreachableRule,
    /// A transition or timer that moves an order out of a final status.
    LeavesFinal,
    /// A transition an earlier one always takes first.
    UnreachableTransition,
    /// A status no order can reach.
    UnreachableStatus,
    /// A status that is not final and has no way out.
    DeadEnd,
    /// A hook script that does not parse.
    HookSyntax,
    /// A hook using a variable that is not defined.
    HookUndefinedVariable,
    /// A hook calling a function that exists nowhere.
    HookUnknownFunction,
    /// A hook calling a function with another number of arguments.
    HookWrongArguments,
    /// A hook reading a property the field catalogue does not have.
    HookUnknownProperty,
    /// A hook file that cannot be read.
    HookUnreadable,
}

crate::stable_code!(Code);

/// The methods every enum of stable codes has (diagnostics' [`Code`], the engine's rejection
/// codes and outbox kinds, the API's error codes): `as_str` (the code as written), `all` (every
/// code, in declaration order), `Display` and comparison with the written form. The enum derives
/// `strum::IntoStaticStr` and `strum::EnumIter` with its `serialize_all` case.
#[macro_export]
macro_rules! stable_code {
    ($ty:ident) => {
        impl $ty {
            /// The code as written.
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// Every code, in declaration order.
            pub fn all() -> impl Iterator<Item = $ty> {
                <$ty as $crate::strum::IntoEnumIterator>::iter()
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::Code;
    use std::str::FromStr;

    #[test]
    fn codes_are_kebab_case_and_read_back() {
        assert_eq!(Code::UnknownStatus.as_str(), "unknown-status");
        assert_eq!(Code::HookUnknownProperty.to_string(), "hook-unknown-property");
        assert_eq!(serde_json::to_value(Code::TooManyErrors).unwrap(), "too-many-errors");
        for code in Code::all() {
            assert_eq!(Code::from_str(code.as_str()), Ok(code));
        }
        assert!(Code::from_str("unknown_status").is_err());
    }
}
