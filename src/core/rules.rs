//! The classification's rules (SPEC "Classification"), shared by its two parsers: the members
//! it reads (the [`Field`] table and the envelope's [`MESSAGE`], [`TYPE`] and [`EVENT`]), its
//! outcomes, the three configurable rule lists ([`Rules`]), and `decide`, SPEC steps 2 to 5 on
//! decoded fields. The serde path ([`super::classify`](mod@super::classify)) and the fast path ([`super::fast`]) both
//! read the members listed here and end in `decide`, so they cannot disagree about the rules;
//! minimisation ([`super::redact`]) keeps exactly these members.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::day::DayKey;
use super::format::{write_record, Record};

/// Which messages are dropped. Each list replaces its default when configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// Hostnames whose events are kept; any other hostname (or none) is dropped (`hostname`).
    pub prod_hosts: Vec<String>,
    /// A channel containing any of these substrings is dropped (`channel`), as is an empty one.
    pub drop_channel_substrings: Vec<String>,
    /// Event names that are dropped (`event`), as is a missing name.
    pub drop_events: Vec<String>,
}

/// The production hosts of the SPEC.
pub const DEFAULT_PROD_HOSTS: [&str; 3] = [
    "futel-prod.phu73l.net",
    "futel-prod-back",
    "dialplan-functions-prod",
];
/// The dropped channel substrings of the SPEC.
pub const DEFAULT_DROP_CHANNEL_SUBSTRINGS: [&str; 1] = ["followme-operator"];
/// The dropped event names of the SPEC.
pub const DEFAULT_DROP_EVENTS: [&str; 2] = ["Registry", "PeerStatus"];

impl Default for Rules {
    fn default() -> Self {
        Rules {
            prod_hosts: DEFAULT_PROD_HOSTS.map(String::from).to_vec(),
            drop_channel_substrings: DEFAULT_DROP_CHANNEL_SUBSTRINGS.map(String::from).to_vec(),
            drop_events: DEFAULT_DROP_EVENTS.map(String::from).to_vec(),
        }
    }
}

/// A rule list that cannot be right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("the production host list is empty: every message would be dropped (give at least one --prod-host)")]
    NoProdHosts,
    #[error("an empty --drop-channel-containing substring would drop every message")]
    EmptyChannelSubstring,
}

impl Rules {
    /// Checks the lists for settings that would silently drop everything.
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.prod_hosts.is_empty() {
            return Err(RulesError::NoProdHosts);
        }
        if self.drop_channel_substrings.iter().any(String::is_empty) {
            return Err(RulesError::EmptyChannelSubstring);
        }
        Ok(())
    }
}

/// Why a message was dropped (the `dropped_by` keys of the report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    Hostname,
    Channel,
    Event,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [DropReason::Hostname, DropReason::Channel, DropReason::Event];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Hostname => "hostname",
            DropReason::Channel => "channel",
            DropReason::Event => "event",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The object a member the classifier reads sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// The envelope (a top-level object with a `Message` member or `"Type": "Notification"`).
    Envelope,
    /// The event message: the envelope's `Message`, or the body itself.
    Message,
    /// The event message's `event` object.
    Event,
}

/// The envelope's member holding the event message, as a JSON string.
pub const MESSAGE: &str = "Message";
/// The envelope's member that makes an object an envelope when it is [`NOTIFICATION`].
pub const TYPE: &str = "Type";
/// See [`TYPE`].
pub const NOTIFICATION: &str = "Notification";
/// The event message's member holding the [`On::Event`] object.
pub const EVENT: &str = "event";

/// A field the classifier reads, whose value must be a string when present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    UserEvent,
    Event,
    Channel,
    Endpoint,
    Timestamp,
    Hostname,
    EnvelopeTimestamp,
}

impl Field {
    /// Every field, in the order a message's fields are checked (the envelope's `Timestamp`,
    /// last here, is checked when the envelope is opened, before the others).
    pub const ALL: [Field; 7] = [
        Field::UserEvent,
        Field::Event,
        Field::Timestamp,
        Field::Channel,
        Field::Endpoint,
        Field::Hostname,
        Field::EnvelopeTimestamp,
    ];

    /// The table: the object the field is a member of, its member name, and its path in a
    /// quarantine reason (`field_not_string:PATH`).
    const fn spec(self) -> (On, &'static str, &'static str) {
        match self {
            Field::UserEvent => (On::Event, "UserEvent", "event.UserEvent"),
            Field::Event => (On::Event, "Event", "event.Event"),
            Field::Channel => (On::Event, "Channel", "event.Channel"),
            Field::Endpoint => (On::Event, "endpoint", "event.endpoint"),
            Field::Timestamp => (On::Message, "timestamp", "timestamp"),
            Field::Hostname => (On::Message, "hostname", "hostname"),
            Field::EnvelopeTimestamp => (On::Envelope, "Timestamp", "Timestamp"),
        }
    }

    /// The object the field is a member of.
    pub const fn on(self) -> On {
        self.spec().0
    }

    /// The field's member name.
    pub const fn name(self) -> &'static str {
        self.spec().1
    }

    /// The field's path in a quarantine reason.
    pub const fn path(self) -> &'static str {
        self.spec().2
    }

    /// The field that is the member `name` of an `on` object, if any.
    pub fn named(on: On, name: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|f| f.on() == on && f.name() == name)
    }
}

/// A value (or none) for each [`Field`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Values<T>([Option<T>; Field::ALL.len()]);

impl<T> Default for Values<T> {
    fn default() -> Self {
        Values(std::array::from_fn(|_| None))
    }
}

impl<T> Values<T> {
    pub(crate) fn get(&self, f: Field) -> Option<&T> {
        self.0[f as usize].as_ref()
    }

    /// Sets the field's value; the last one wins.
    pub(crate) fn replace(&mut self, f: Field, v: T) {
        self.0[f as usize] = Some(v);
    }

    /// Sets the field's value unless it has one (a member given twice): then `None`.
    pub(crate) fn set_once(&mut self, f: Field, v: T) -> Option<()> {
        set_once(&mut self.0[f as usize], v)
    }
}

/// Stores `v` in `slot` unless it holds a value (a member given twice): then `None`.
pub(crate) fn set_once<T>(slot: &mut Option<T>, v: T) -> Option<()> {
    slot.is_none().then(|| *slot = Some(v))
}

/// Why a message was quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuarantineReason {
    /// The body is not valid UTF-8 (only possible for file sources).
    NotUtf8,
    /// The body is not JSON.
    NotJson,
    /// The body is JSON but not an object.
    NotObject,
    /// An envelope without a `Message` member.
    EnvelopeWithoutMessage,
    /// An envelope whose `Message` is not a string.
    MessageNotString,
    /// An envelope whose `Message` string is not JSON.
    MessageNotJson,
    /// An envelope whose `Message` is JSON but not an object.
    MessageNotObject,
    /// The event message has no `event` object.
    NoEventObject,
    /// A used field holds something other than a string.
    FieldNotString(Field),
    /// The timestamp is missing or does not begin with a calendar date.
    BadTimestamp,
}

impl QuarantineReason {
    /// A stable machine-readable name (the `reason` of a quarantine record).
    pub fn code(self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            QuarantineReason::NotUtf8 => "not_utf8",
            QuarantineReason::NotJson => "not_json",
            QuarantineReason::NotObject => "not_object",
            QuarantineReason::EnvelopeWithoutMessage => "envelope_without_message",
            QuarantineReason::MessageNotString => "message_not_string",
            QuarantineReason::MessageNotJson => "message_not_json",
            QuarantineReason::MessageNotObject => "message_not_object",
            QuarantineReason::NoEventObject => "no_event_object",
            QuarantineReason::FieldNotString(f) => {
                return Cow::Owned(format!("field_not_string:{}", f.path()))
            }
            QuarantineReason::BadTimestamp => "bad_timestamp",
        })
    }
}

impl fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Keep: the line was appended to the caller's buffer; it belongs to `day`.
    Keep { day: DayKey },
    /// Drop, counted under `reason` and `value` (a missing value is `""`).
    Drop { reason: DropReason, value: String },
    /// Quarantine: keep the raw body for a person.
    Quarantine { reason: QuarantineReason },
}

/// SPEC steps 2 to 5 on a structurally sound message's decoded string fields (`value`; `None`:
/// absent): derive (the name is `UserEvent`, else `Event`; the timestamp the message's, else the
/// envelope's), drop, check the date, keep (appending the line). Shared by the serde path and
/// the fast path, so they cannot disagree about the rules.
pub(crate) fn decide<'s>(
    value: impl Fn(Field) -> Option<&'s str>,
    rules: &Rules,
    line: &mut Vec<u8>,
) -> Outcome {
    let channel = value(Field::Channel).unwrap_or("");
    let hostname = value(Field::Hostname).unwrap_or("");
    let name = value(Field::UserEvent).or_else(|| value(Field::Event));
    let dropped_channel = |s: &String| channel.contains(s.as_str());
    let (reason, dropped) = if !rules.prod_hosts.iter().any(|h| h == hostname) {
        (DropReason::Hostname, hostname)
    } else if channel.is_empty() || rules.drop_channel_substrings.iter().any(dropped_channel) {
        (DropReason::Channel, channel)
    } else if let Some(name) = name.filter(|n| !rules.drop_events.iter().any(|e| e == n)) {
        let timestamp = value(Field::Timestamp).or_else(|| value(Field::EnvelopeTimestamp));
        let Some(day) = timestamp.and_then(DayKey::from_timestamp) else {
            return Outcome::Quarantine {
                reason: QuarantineReason::BadTimestamp,
            };
        };
        let endpoint = value(Field::Endpoint).unwrap_or(channel);
        let timestamp = timestamp.unwrap_or("");
        write_record(
            line,
            &Record {
                timestamp,
                channel,
                endpoint,
                event: name,
            },
        );
        return Outcome::Keep { day };
    } else {
        (DropReason::Event, name.unwrap_or(""))
    };
    Outcome::Drop {
        reason,
        value: dropped.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_is_found_by_its_member_name_and_its_path_names_it() {
        let mut indexes: Vec<usize> = Field::ALL.iter().map(|&f| f as usize).collect();
        indexes.sort_unstable();
        assert_eq!(indexes, (0..Field::ALL.len()).collect::<Vec<_>>());
        for f in Field::ALL {
            assert_eq!(Field::named(f.on(), f.name()), Some(f));
            let path = match f.on() {
                On::Event => format!("{EVENT}.{}", f.name()),
                On::Message | On::Envelope => f.name().to_owned(),
            };
            assert_eq!(f.path(), path);
        }
        assert_eq!(Field::named(On::Message, "Timestamp"), None);
        assert_eq!(Field::named(On::Event, "event"), None);
    }
}
