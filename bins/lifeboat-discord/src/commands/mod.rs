//! The slash commands: their definitions (registered by the bot itself at
//! start), who may use each, and the dispatch to a module per command.

pub mod backup;
pub mod backups;
pub mod restore;

use std::sync::Arc;

use serde_json::json;
use twilight_model::application::command::Command;
use twilight_model::application::interaction::application_command::{CommandData, CommandOptionValue};
use twilight_model::application::interaction::{Interaction, InteractionData};

use crate::App;
use crate::discord::Say;
use crate::text::{OWNER_ONLY, REFUSED};

/// The commands as Discord registers them (global, usable in servers and
/// in DMs with the bot). Everyone sees them; the bot checks who runs them.
pub fn definitions() -> Vec<Command> {
    let sub = |name: &str, description: &str| json!({ "type": 1, "name": name, "description": description });
    let defs = json!([
        {
            "type": 1, "name": "backup", "description": "Back up the bot's databases now, or show the backup status",
            "version": "1", "default_member_permissions": null, "contexts": [0, 1],
            "options": [sub("now", "Back up now and deliver the archive"), sub("status", "Last backup, schedule, disk and alerts")],
        },
        {
            "type": 1, "name": "backups", "description": "The archives kept on the server",
            "version": "1", "default_member_permissions": null, "contexts": [0, 1],
            "options": [sub("list", "The newest archives: time, files, size, verified, delivered")],
        },
        {
            "type": 1, "name": "restore", "description": "Restore the live databases from an archive (owner only)",
            "version": "1", "default_member_permissions": null, "contexts": [0, 1],
            "options": [
                { "type": 3, "name": "archive", "description": "latest, or an archive's name from /backups list", "required": true },
                { "type": 3, "name": "database", "description": "Only this database (default: every one)", "required": false },
            ],
        },
    ]);
    serde_json::from_value(defs).expect("the command definitions are in Discord's shape")
}

/// A slash command as typed: `/command sub option=value…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub command: String,
    /// The subcommand, if the command has them.
    pub sub: Option<String>,
    /// String options, by name.
    pub options: Vec<(String, String)>,
}

impl Invocation {
    /// Reads the command's data.
    pub fn from_data(data: &CommandData) -> Invocation {
        let mut inv = Invocation { command: data.name.clone(), sub: None, options: Vec::new() };
        for o in &data.options {
            match &o.value {
                CommandOptionValue::SubCommand(inner) => {
                    inv.sub = Some(o.name.clone());
                    for i in inner {
                        if let CommandOptionValue::String(v) = &i.value {
                            inv.options.push((i.name.clone(), v.clone()));
                        }
                    }
                }
                CommandOptionValue::String(v) => inv.options.push((o.name.clone(), v.clone())),
                _ => {}
            }
        }
        inv
    }

    /// The option `name`, if given.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Who may do what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Admin,
    Owner,
}

/// Answers one interaction: checks who sent it, then hands it to its
/// command. Each answer is sent within Discord's 3 seconds; long work
/// defers and edits.
pub async fn handle(app: Arc<App>, interaction: Interaction) {
    let user = interaction.author_id().map_or(0, |id| id.get());
    match &interaction.data {
        Some(InteractionData::ApplicationCommand(data)) => {
            let inv = Invocation::from_data(data);
            let need = if inv.command == "restore" { Need::Owner } else { Need::Admin };
            if !allowed(&app, user, need, &interaction).await {
                return;
            }
            tracing::info!(user, command = %inv.command, sub = ?inv.sub, "command");
            match (inv.command.as_str(), inv.sub.as_deref()) {
                ("backup", Some("now")) => backup::now(app, interaction).await,
                ("backup", Some("status")) => backup::status(app, interaction).await,
                ("backups", Some("list")) => backups::list(app, interaction).await,
                ("restore", _) => restore::ask(app, interaction, &inv).await,
                _ => app.reply(&interaction, Say::private("Unknown command.")).await,
            }
        }
        Some(InteractionData::MessageComponent(data)) => {
            let custom_id = data.custom_id.clone();
            if !allowed(&app, user, Need::Owner, &interaction).await {
                return;
            }
            restore::pressed(app, interaction, &custom_id).await;
        }
        _ => {}
    }
}

/// Whether `user` may go on; if not, they get a short ephemeral refusal.
async fn allowed(app: &App, user: u64, need: Need, interaction: &Interaction) -> bool {
    let d = &app.cfg.bots.discord;
    let ok = match need {
        Need::Admin => d.is_admin(user),
        Need::Owner => d.is_owner(user),
    };
    if !ok {
        tracing::info!(user, "refused a user who may not use this");
        let words = if d.is_admin(user) { OWNER_ONLY } else { REFUSED };
        app.reply(interaction, Say::private(words)).await;
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_parse_and_name_every_command() {
        let names: Vec<String> = definitions().into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["backup", "backups", "restore"]);
    }
}
