//! The three configurable rule lists of the classification (SPEC "Classification").

use serde::{Deserialize, Serialize};

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
            prod_hosts: DEFAULT_PROD_HOSTS.iter().map(|s| (*s).to_owned()).collect(),
            drop_channel_substrings: DEFAULT_DROP_CHANNEL_SUBSTRINGS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            drop_events: DEFAULT_DROP_EVENTS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
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

    pub(crate) fn is_prod_host(&self, hostname: &str) -> bool {
        self.prod_hosts.iter().any(|h| h == hostname)
    }

    pub(crate) fn is_dropped_channel(&self, channel: &str) -> bool {
        channel.is_empty()
            || self
                .drop_channel_substrings
                .iter()
                .any(|s| channel.contains(s.as_str()))
    }

    pub(crate) fn is_dropped_event(&self, name: &str) -> bool {
        self.drop_events.iter().any(|e| e == name)
    }
}
