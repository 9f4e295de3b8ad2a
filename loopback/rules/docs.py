"""The documentation pages the rules cite, Discord's message flags, and the limits they state."""

from __future__ import annotations

from loopback.spec import Breach, FieldPath

DOCS = "https://discord.com/developers/docs"
MESSAGE_DOC = f"{DOCS}/resources/message#create-message"
MENTIONS_DOC = f"{DOCS}/resources/message#allowed-mentions-object"
EMBED_DOC = f"{DOCS}/resources/message#embed-object-embed-limits"
COMPONENTS_DOC = f"{DOCS}/components/reference"
BUTTON_DOC = f"{DOCS}/components/reference#button"
ACTION_ROW_DOC = f"{DOCS}/components/reference#action-row"
MODAL_DOC = f"{DOCS}/interactions/receiving-and-responding#interaction-response-object-modal"
CALLBACK_DOC = f"{DOCS}/interactions/receiving-and-responding#interaction-response-object-messages"
FOLLOWUP_DOC = f"{DOCS}/interactions/receiving-and-responding#create-followup-message"
COMMANDS_DOC = f"{DOCS}/interactions/application-commands"
NAMING_DOC = f"{COMMANDS_DOC}#application-command-object-application-command-naming"
OPTIONS_DOC = f"{COMMANDS_DOC}#application-command-object-application-command-option-structure"
LIMITS_DOC = f"{COMMANDS_DOC}#registering-a-command"
COMMAND_LENGTH_DOC = f"{COMMANDS_DOC}#application-command-object-application-command-structure"

# Message flags (https://discord.com/developers/docs/resources/message#message-object-message-flags).
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_VOICE_MESSAGE = 1 << 13
IS_COMPONENTS_V2 = 1 << 15

#: Flags a bot may set, per kind of send (each from the page of that endpoint).
FLAGS_ALLOWED = {
    # Create Message: "only SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS, IS_VOICE_MESSAGE and
    # IS_COMPONENTS_V2 can be set" (MESSAGE_DOC).
    "channel_create": SUPPRESS_EMBEDS
    | SUPPRESS_NOTIFICATIONS
    | IS_VOICE_MESSAGE
    | IS_COMPONENTS_V2,
    # Edit Message: "only SUPPRESS_EMBEDS can be set/unset", IS_COMPONENTS_V2 only set
    # (https://discord.com/developers/docs/resources/message#edit-message).
    "edit": SUPPRESS_EMBEDS | IS_COMPONENTS_V2,
    # Interaction response "messages" data: "only SUPPRESS_EMBEDS, EPHEMERAL,
    # SUPPRESS_NOTIFICATIONS and IS_COMPONENTS_V2 can be set" (CALLBACK_DOC); the same for a
    # follow-up (FOLLOWUP_DOC).
    "callback_message": SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2,
    # A deferred response only says whether the message to come is ephemeral (CALLBACK_DOC).
    "callback_deferred": EPHEMERAL,
    # UPDATE_MESSAGE edits the component's message: ephemerality cannot change (CALLBACK_DOC).
    "callback_update": SUPPRESS_EMBEDS | IS_COMPONENTS_V2,
    "followup": SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2,
}

MAX_CONTENT = 2000  # "content: up to 2000 characters" (MESSAGE_DOC); the spec says 4000
MAX_EMBED_TOTAL = 6000  # characters over all embeds of a message (EMBED_DOC)
MAX_ROW_WIDTH = 5
MAX_MODAL_COMPONENTS = 5  # "between 1 and 5 components" (MODAL_DOC)
MAX_V2_COMPONENTS = 40  # components in all, nested ones counted (COMPONENTS_DOC)
MAX_COMMAND_CHARS = 8000  # name, description, options and choices of one command
MAX_OPTION_LENGTH = 6000  # max_length of a string option (OPTIONS_DOC)
#: "up to 100 top-level CHAT_INPUT commands, 15 USER and 15 MESSAGE commands" (LIMITS_DOC).
MAX_COMMANDS = {1: 100, 2: 15, 3: 15}

SELECTS = {3, 5, 6, 7, 8}
NUMERIC_OPTIONS = {4, 10}
STRING_OPTION = 3
SUBCOMMANDS = {1, 2}


def breach(path: FieldPath, message: str, doc: str, code: str = "BASE_TYPE_INVALID") -> Breach:
    """A breach whose message ends with the page that states the rule."""
    return Breach(path, code, f"{message} ({doc})")
