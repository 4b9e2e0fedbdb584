"""The one error catalogue.

Every problem matrixgen reports has a stable code, a severity, a location the user can find
(``Assessment!E12``, ``rubric.toml: dimensions[2].criteria[0].stage``, ``roster.csv line 7``)
and a message shaped *what is wrong -> how to fix it*. Tests assert on codes and locations,
so message wording can improve without breaking them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


@dataclass(frozen=True)
class Entry:
    code: str
    severity: Severity
    template: str


@dataclass(frozen=True)
class Problem:
    code: str
    severity: Severity
    location: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message} [{self.code}]"

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "location": self.location,
            "message": self.message,
        }


CATALOGUE: dict[str, Entry] = {}


def _define(code: str, severity: Severity, template: str) -> None:
    if code in CATALOGUE:  # pragma: no cover - guards the table below
        raise ValueError(f"duplicate error code {code}")
    CATALOGUE[code] = Entry(code, severity, template)


def problem(code: str, location: str = "", **fields: object) -> Problem:
    """Build a located problem from its catalogue entry."""
    entry = CATALOGUE[code]
    return Problem(code, entry.severity, location, entry.template.format(**fields))


def has_errors(problems: list[Problem] | tuple[Problem, ...]) -> bool:
    return any(p.is_error for p in problems)


E, W, N = Severity.ERROR, Severity.WARNING, Severity.NOTE

# --- rubric.toml -------------------------------------------------------------------------------
_define("MG-RUBRIC-001", E, "cannot read the rubric: {reason}; check the path")
_define("MG-RUBRIC-002", E, "not valid TOML: {reason}; fix the syntax at this line and column")
_define("MG-RUBRIC-003", E, "'{key}' is missing; add it")
_define("MG-RUBRIC-004", E, "{value!r} is not a stage; stages are {stages}")
_define("MG-RUBRIC-005", E, "duplicate id {value!r} (first at {first}); give each one its own id")
_define("MG-RUBRIC-006", E, "the text is empty; write the criterion as it reads in the matrix")
_define("MG-RUBRIC-007", E, "no stages are defined; add [[stages]] tables, lowest stage first")
_define("MG-RUBRIC-008", W, "unknown key '{key}' is ignored; check its spelling (known keys: {known})")
_define("MG-RUBRIC-009", E, "expected {expected}, found {found}; correct the value")
_define("MG-RUBRIC-010", E, "no responses are defined; add [[responses]] tables (e.g. Met, In progress, Not yet)")
_define("MG-RUBRIC-011", E, "no response is marked met = true; mark the answer that counts as met")
_define("MG-RUBRIC-012", E, "no dimensions are defined; add [[dimensions]] with their criteria")
_define("MG-RUBRIC-013", W, "dimension '{dimension}' has no criteria; add some or remove it")
_define("MG-RUBRIC-014", E, "{value!r} is not a valid id; use letters, digits, '.', '_' and '-' (at most 40)")
_define("MG-RUBRIC-015", E, "unknown scoring method {value!r}; use \"staged\"")
_define("MG-RUBRIC-016", E, "the answer '{value}' is used by two responses; each label and alias may appear once")

# --- roster.csv --------------------------------------------------------------------------------
_define("MG-ROSTER-001", E, "cannot read the roster: {reason}; check the path")
_define("MG-ROSTER-002", E, "the header must name the columns {columns}; missing: {missing}")
_define("MG-ROSTER-003", E, "'{column}' is empty; every partnership needs an id and a name")
_define("MG-ROSTER-004", E, "duplicate id {value!r} (first on line {first}); ids must be unique")
_define("MG-ROSTER-005", E, "id {value!r} is not valid; use letters, digits, '.', '_' and '-' (at most 40), starting with a letter or digit")
_define("MG-ROSTER-006", E, "'{column}' contains control characters; retype the value")
_define("MG-ROSTER-007", E, "this row has {found} values but the header has {expected}; check for a stray comma or a missing quote")
_define("MG-ROSTER-008", E, "the roster is not UTF-8 text; in Excel use Save As > CSV UTF-8")
_define("MG-ROSTER-009", E, "the roster has no partnerships; add one row per partnership under the header")
_define("MG-ROSTER-010", W, "unknown column '{column}' is ignored; known columns are {columns}")
_define("MG-ROSTER-011", E, "'{value}' is not an email address; correct it or leave it empty")
_define("MG-ROSTER-012", E, "'{column}' is {length} characters long; keep it under {limit}")

# --- generate ----------------------------------------------------------------------------------
_define("MG-GEN-001", E, "round label {value!r} is not valid; use letters, digits, '.', '_' and '-' (e.g. 2026 or 2026-fall)")
_define("MG-GEN-002", E, "the secret key file is not usable: {reason}; restore it from the backup kept with the store (a new key cannot verify the workbooks already sent out)")
_define("MG-GEN-003", E, "holds {size} byte(s) of key material, and the signing key needs at least {minimum}; make one with `{make}` and set MATRIXGEN_SECRET to it, the same wherever matrixgen runs (workbooks signed with the short key must then be issued again)")

# --- read (returned files) ---------------------------------------------------------------------
# What kind of file it is: only a normal .xlsx is read; each other kind says what to do instead.
_define("MG-READ-001", E, "the file is empty (0 bytes); attach the filled-in workbook to the email again")
_define("MG-READ-002", E, "the file is {size} MB, more than the {limit} MB a workbook can be; send the workbook we issued, without pictures or extra sheets")
_define("MG-READ-003", E, "the file is damaged or incomplete ({reason}); open it in Excel, save it again and send the saved copy")
_define("MG-READ-004", E, "the workbook is password-protected: remove the password (File › Info › Protect Workbook › Encrypt with Password, clear it) and send it again")
_define("MG-READ-005", E, "this is an .xls file (Excel 97-2003): open it, choose File › Save As › Excel Workbook (.xlsx) and send that file")
_define("MG-READ-006", E, "this is a macro-enabled workbook (.xlsm): choose File › Save As › Excel Workbook (.xlsx) and send that file")
_define("MG-READ-007", E, "this is an Excel Binary Workbook (.xlsb): choose File › Save As › Excel Workbook (.xlsx) and send that file")
_define("MG-READ-008", E, "this is an OpenDocument spreadsheet (.ods): choose File › Save As, pick the type Excel 2007-365 (.xlsx), and send that file")
_define("MG-READ-009", E, "the workbook was saved as Strict Open XML: choose File › Save As › Excel Workbook (.xlsx), not 'Strict Open XML Spreadsheet', and send it again")
_define("MG-READ-010", E, "this is a CSV or text file, which cannot carry the workbook's details: fill in the workbook we sent and return it as .xlsx")
_define("MG-READ-011", E, "this is a PDF: we need the filled-in workbook itself (.xlsx), not a printout; attach the workbook")
_define("MG-READ-012", E, "this is not an Excel workbook ({what}); return the .xlsx workbook we sent, filled in")
# Hostile or malformed contents: the file is never opened past these checks.
_define("MG-READ-013", E, "the file's compressed contents are out of bounds ({reason}); it was not opened. Save the workbook again from Excel and send it")
_define("MG-READ-014", E, "the part {part} declares XML entities, which workbooks never do; it was not opened. Save the workbook again from Excel and send it")
_define("MG-READ-015", E, "reading the file took longer than {seconds:g} s and was stopped; save the workbook again from Excel and send it")
_define("MG-READ-016", E, "the sheet '{sheet}' spans {cells} cells (up to {ref}), more than a workbook can; delete the stray cells far from the table and send it again")
# Finding the answers.
_define("MG-READ-017", E, "no Assessment table was found (a header row with 'ID' and 'Response'); use the workbook we sent without renaming its headers")
_define("MG-READ-018", E, "the row for criterion {id} is missing (deleted?); add it back from the workbook we sent, or answer it there")
_define("MG-READ-019", E, "criterion {id} appears in {count} rows with different answers ({rows}); keep one row and delete the others")
_define("MG-READ-020", W, "'{id}' is not a criterion of this rubric; its row was ignored")
_define("MG-READ-021", E, "no answer for {id}; choose one of {choices}")
_define("MG-READ-022", E, "{value!r} is not an answer for {id}; use one of {choices}")
_define("MG-READ-023", E, "the answer for {id} is a formula; type or choose the answer itself ({choices})")
_define("MG-READ-024", W, "criterion {id} appears in {count} rows ({rows}) with the same answer; the duplicates are harmless but can be deleted")
# Who sent it.
_define("MG-READ-025", E, "this workbook has none of the details of a workbook issued by this office; fill in the workbook we sent and return it")
_define("MG-READ-026", E, "not issued by this office, or its partnership details were changed: {field} reads {found!r} here but {expected!r} at {other}; return the workbook as it was sent")
_define("MG-READ-027", E, "not issued by this office, or its partnership details were changed (the signature does not match{claims}); return the workbook as it was sent")
_define("MG-READ-028", E, "no partnership name is typed on this generic workbook; type it in the yellow cell and send it again")
_define("MG-READ-029", N, "a generic workbook: identified only by the name typed on it, not verified")
_define("MG-READ-030", N, "the workbook details were found in {found} but not in {missing} (another app re-saved it); the signature still verifies")
# Files that are not returns at all.
_define("MG-READ-031", N, "skipped: an Office lock file (made while a workbook is open), not a workbook")
_define("MG-READ-032", N, "skipped: a hidden file")
_define("MG-READ-033", E, "cannot read the file: {reason}; check it is there and readable")

# --- score -------------------------------------------------------------------------------------
_define("MG-SCORE-001", E, "made from rubric {rubric_id} version {version} (hash {hash}), which this office has no record of; run `matrixgen generate --db` with that rubric, or send the partnership the current workbook")
_define("MG-SCORE-002", W, "{met} is Met while the earlier-stage {unmet} is not; check both answers")
_define("MG-SCORE-003", W, "this workbook was issued for round {found}, not {expected}; it is stored under round {found}")
_define("MG-SCORE-004", W, "none of the {count} signed workbooks in this batch verify with this office's key: the likeliest cause is not the respondents but that the key changed since the workbooks were issued (MATRIXGEN_SECRET set differently, or secret.key in the data directory lost and made anew); restore the key they were signed with before sending reminders, which would ask each respondent to return the workbook as it was sent")

# --- store -------------------------------------------------------------------------------------
_define("MG-STORE-001", N, "already received: the same file was stored on {when} as {file} ({status}); nothing new was stored")
_define("MG-STORE-002", N, "replaces {file} (received {when}) as the current submission for {partnership}, round {round}: it was received later")
_define("MG-STORE-003", E, "the store {url} has schema version {found}, newer than this matrixgen ({expected}); upgrade matrixgen")
_define("MG-STORE-004", E, "cannot open the store {url}: {reason}; check the path or URL")
_define("MG-STORE-005", E, "there is no store at {url}; check --db or MATRIXGEN_DB (a new store is made by `matrixgen round open`, `generate` or `score`)")
_define("MG-STORE-006", E, "there is no round {value!r} (known: {known}); open it with `matrixgen round open {value} --roster roster.csv`")
_define("MG-STORE-007", E, "{value!r} cannot be used as a {where}: use a letter or digit, then letters, digits, '.', '_' and '-', at most 40 characters")

# --- review: why a return waits for a person (the reason), and decisions that cannot be taken ---
_define("MG-REVIEW-001", W, "a generic workbook: the name typed on it, {name!r}, is close to {suggestion!r} ({score:.0f}% alike) on the roster of round {round}; accept it if that is the partnership, or assign it to the right one")
_define("MG-REVIEW-002", W, "a generic workbook: the name typed on it, {name!r}, matches no partnership on the roster of round {round}; assign it to the right one, or reject it")
_define("MG-REVIEW-003", W, "the respondent email {email} is the roster contact of {other} ({other_name}), not of {partnership}; check who filled it in, then accept, assign or reject it")
_define("MG-REVIEW-004", W, "this workbook was issued for round {found}, but it is being scored into round {expected}; accept it into round {found}, or assign it to the right round")
_define("MG-REVIEW-005", W, "no round: the file carries none, --round was not given, and {open} rounds are open; assign it to its round")
_define("MG-REVIEW-006", W, "late: round {round} was closed on {closed}; accept it to count it, or reject it")
_define("MG-REVIEW-007", W, "{partnership} sent {count} different files for round {round} in this batch ({files}); accept the one to keep and reject the others")
_define("MG-REVIEW-008", W, "this workbook was issued for round {round}, which is not open in this store (known: {known}); open the round, or assign it to another")
_define("MG-REVIEW-009", W, "stored with no round before rounds were required; assign it to its partnership and round, or reject it")
_define("MG-REVIEW-010", W, "sent by email from {sender}, who is not a roster contact of round {round}; check who sent it, then accept, assign or reject it")
_define("MG-REVIEW-011", W, "an email from {sender} with no workbook attached (subject {subject!r}); read it and answer the sender, then reject it with a note to take it off the queue")
_define("MG-REVIEW-020", E, "there is no review item {value}; list them with `matrixgen review`")
_define("MG-REVIEW-021", E, "review item {value} was already decided ({state}); undo it first with `matrixgen review undo {value}`")
_define("MG-REVIEW-022", E, "review item {value} is still waiting: there is no decision to undo")
_define("MG-REVIEW-023", E, "review item {value} has no suggested partnership to accept; use `matrixgen review assign {value} --partnership ID`")
_define("MG-REVIEW-024", E, "a rejection needs a reason, which goes to the partnership in its next reminder; give it with --reason")
_define("MG-REVIEW-025", E, "there is no partnership {value!r} in the store; use an id from the round's roster")
_define("MG-REVIEW-026", E, "there is no round {value!r} to assign it to (known: {known}); give --round with an opened round")

# --- report ------------------------------------------------------------------------------------
_define("MG-REPORT-001", E, "round label {value!r} cannot be used as a folder name; use letters, digits, '.', '_' and '-'")
_define("MG-REPORT-002", E, "the report could not be rendered: {reason}; the other reports are unaffected, fix the cause and run the report again")
_define("MG-REPORT-003", W, "the PDF renderer reported: {message}; the PDF was written but may not look right")
_define("MG-REPORT-004", E, "the report could not be written: {reason}; check that the output folder is writable and has space")
_define("MG-REPORT-005", E, "{path} is missing from the templates folder; restore it from the matrixgen source")
_define("MG-REPORT-006", E, "the report asked for {url}, which is not in the templates folder; only template files and data: URLs are served")
_define("MG-REPORT-007", E, "no round {value!r} in the store; known rounds: {known}")
_define("MG-REPORT-008", E, "partnership {value!r} has no current submission in round {round}; check the id (known ids: {known})")
_define("MG-REPORT-009", E, "there are no submissions to report on{where}; score some returned workbooks first")
_define("MG-REPORT-010", W, "this submission has no stored rubric version or partnership, so it has no report; score the file again")
_define("MG-REPORT-011", N, "fonts were subset with fontTools because HarfBuzz's subsetter is not installed: the PDFs are the same, each took about {extra} s more CPU; install libharfbuzz-subset0 (Debian, Ubuntu) to make reports faster")
_define("MG-REPORT-012", E, "partnership id {value!r} cannot be used in a file name; use letters, digits, '.', '_' and '-'")

# --- send --------------------------------------------------------------------------------------
# settings (matrixgen.toml [mail] or MATRIXGEN_* environment variables)
_define("MG-SEND-001", E, "{key} is not set; set it in the environment or as {file_key} in the [mail] table of matrixgen.toml")
_define("MG-SEND-002", E, "{value!r} is not a security mode; use starttls, ssl or none")
_define("MG-SEND-003", E, "{value!r} is not a port number; use a whole number from 1 to 65535 (usually 587 for starttls, 465 for ssl)")
_define("MG-SEND-004", E, "{value!r} is not an email address; write it as name@example.gov or \"Office name <name@example.gov>\"")
_define("MG-SEND-005", E, "the SMTP password is read only from the environment; remove {key} from this file and set MATRIXGEN_SMTP_PASSWORD")
_define("MG-SEND-006", E, "MATRIXGEN_SMTP_USER is set but MATRIXGEN_SMTP_PASSWORD is not; set the password in the environment (never in a file)")
_define("MG-SEND-007", W, "unknown key '{key}' is ignored; known keys are {known}")
_define("MG-SEND-008", E, "cannot read the settings file: {reason}; fix the file or remove it")
_define("MG-SEND-009", E, "{value!r} is not a number of messages per minute; use a positive number, or 0 for no limit")
_define("MG-SEND-010", W, "the password would travel unencrypted with security = none; use starttls or ssl unless the server is on this machine")
_define("MG-SEND-011", E, "{path} is not a folder of email templates; check the path (templates are looked up there first)")
_define("MG-SEND-012", E, "the CA file {path} cannot be used: {reason}; point MATRIXGEN_SMTP_CA_FILE at the PEM file of the server's certificate authority")
# the server
_define("MG-SEND-020", E, "cannot connect to the mail server: {reason}; check MATRIXGEN_SMTP_HOST, MATRIXGEN_SMTP_PORT and MATRIXGEN_SMTP_SECURITY")
_define("MG-SEND-021", E, "the mail server refused the login for {user}: {reason}; check MATRIXGEN_SMTP_USER and MATRIXGEN_SMTP_PASSWORD")
_define("MG-SEND-022", E, "the mail server does not offer STARTTLS; use MATRIXGEN_SMTP_SECURITY=ssl (usually port 465), or none only for a server on this machine")
_define("MG-SEND-023", E, "the mail server refused the sender {sender}: {reason}; set MATRIXGEN_MAIL_FROM to an address this account may send as")
_define("MG-SEND-024", E, "the mail server refused the recipient {recipient}: {reason}; correct contact_email in the roster and run again (only failed messages are retried)")
_define("MG-SEND-025", E, "the message was not accepted: {reason}; run again to retry the failed messages")
_define("MG-SEND-026", E, "the mail server asks for a login: {reason}; set MATRIXGEN_SMTP_USER and MATRIXGEN_SMTP_PASSWORD")
_define("MG-SEND-027", E, "sending stopped: {reason}; {count} message(s) were not attempted, run again to send them")
# what is sent
_define("MG-SEND-030", E, "there is no contact email for {name}; add contact_email to the roster and run again")
_define("MG-SEND-031", E, "the attachment {path} cannot be read: {reason}; {fix}")
_define("MG-SEND-032", E, "the attachment {path} is not the file that was recorded (sha256 {found:.12}, recorded {expected:.12}); {fix}")
_define("MG-SEND-033", E, "the email template is not usable: {reason}; fix the template (or remove the office's copy to use the default)")
_define("MG-SEND-034", W, "a previous run stopped while sending this message ({message_id}) to {recipient}; check the Sent folder, and send it again with --resend if it did not go out")
_define("MG-SEND-035", E, "no partnership {value!r} in round {round}; known ids: {known}")
_define("MG-SEND-036", E, "there is no report for {name} in round {round}; render it with matrixgen report, then send again")
_define("MG-SEND-037", E, "no workbook was generated for {name} in round {round}; run matrixgen generate --round {round}, then send again")
_define("MG-SEND-038", E, "there is no round {value!r} in the store (known: {known}); open it with matrixgen round open {value} --roster roster.csv")

# --- mail in (matrixgen collect) ----------------------------------------------------------------
# settings (matrixgen.toml [imap] or MATRIXGEN_IMAP_* environment variables)
_define("MG-MAIL-001", E, "{key} is not set; set it in the environment or as {file_key} in the [imap] table of matrixgen.toml (or read exported mail with --from PATH)")
_define("MG-MAIL-002", E, "{value!r} is not a security mode; use ssl, starttls or none")
_define("MG-MAIL-003", E, "{value!r} is not a port number; use a whole number from 1 to 65535 (usually 993 for ssl, 143 for starttls)")
_define("MG-MAIL-004", E, "the IMAP password is read only from the environment; remove {key} from this file and set MATRIXGEN_IMAP_PASSWORD")
_define("MG-MAIL-005", W, "unknown key '{key}' is ignored; known keys are {known}")
_define("MG-MAIL-006", E, "MATRIXGEN_IMAP_PASSWORD is not set; set the mailbox's password in the environment (never in a file)")
_define("MG-MAIL-007", W, "the password would travel unencrypted with security = none; use ssl or starttls unless the server is on this machine")
_define("MG-MAIL-008", E, "the CA file {path} cannot be used: {reason}; point MATRIXGEN_IMAP_CA_FILE at the PEM file of the server's certificate authority")
_define("MG-MAIL-009", E, "cannot read exported mail at {path}: {reason}; give --from a folder of .eml files, an mbox file or a Maildir folder")
_define("MG-MAIL-010", E, "{value!r} is not a folder name; name a folder as the mail program shows it, parts separated by '/' (e.g. matrixgen/processed)")
# the server
_define("MG-MAIL-020", E, "cannot connect to the IMAP server: {reason}; check MATRIXGEN_IMAP_HOST, MATRIXGEN_IMAP_PORT and MATRIXGEN_IMAP_SECURITY")
_define("MG-MAIL-021", E, "the IMAP server refused the login for {user}: {reason}; check MATRIXGEN_IMAP_USER and MATRIXGEN_IMAP_PASSWORD")
_define("MG-MAIL-022", E, "the IMAP server does not offer STARTTLS; use MATRIXGEN_IMAP_SECURITY=ssl (usually port 993), or none only for a server on this machine")
_define("MG-MAIL-023", E, "there is no folder {folder!r} in the mailbox; check MATRIXGEN_IMAP_FOLDER (folders: {known})")
_define("MG-MAIL-024", E, "the done folder {folder!r} could not be made: {reason}; create it in a mail program, or set MATRIXGEN_IMAP_DONE_FOLDER to one that exists")
_define("MG-MAIL-025", E, "the connection to the IMAP server broke: {reason}; run again: what was processed is recorded, and nothing is done twice")
_define("MG-MAIL-026", W, "the folder's UIDVALIDITY changed from {old} to {new} (the server renumbered its messages); messages are recognised by their Message-ID instead, so none is processed twice")
_define("MG-MAIL-027", N, "the server has no MOVE: processed messages are flagged \\Seen and {keyword} and left in {folder}")
_define("MG-MAIL-028", E, "the processed message could not be moved to {folder}: {reason}; it is recorded as processed, and the next run moves it")
# hostile or broken mail: the message (or one attachment) is refused with the reason, and the next goes on
_define("MG-MAIL-040", E, "the message is {size} MB, more than the {limit} MB accepted; send the workbook on its own, without other attachments")
_define("MG-MAIL-041", E, "the message has {count} attachments, more than the {limit} accepted; send the workbook on its own")
_define("MG-MAIL-042", E, "the message nests its parts more than {limit} levels deep; attach the workbook to a new message")
_define("MG-MAIL-043", E, "the message's header is {size} KB, more than the {limit} KB accepted; send the workbook in a new message")
_define("MG-MAIL-044", E, "the attachment {name!r} was damaged on the way (its base64 encoding is broken); attach the workbook again")
_define("MG-MAIL-045", E, "the zip file {name!r} was not opened ({reason}); attach the workbook itself, not a zip")
_define("MG-MAIL-046", E, "the attachment's name {name!r} is a path that would leave its folder; rename the file (e.g. workbook.xlsx) and send it again")
_define("MG-MAIL-047", E, "the message could not be read ({reason}); send the workbook in a new message")
# messages that are not returns, and what was done with them
_define("MG-MAIL-060", N, "an automatic reply ({why}): recorded, never answered")
_define("MG-MAIL-061", N, "a mailing-list message ({why}): recorded, never answered")
_define("MG-MAIL-062", E, "delivery to {recipient} failed ({status}{diagnostic}), reported on {when}; correct contact_email in the roster, open the round again with it, and send again")
_define("MG-MAIL-063", N, "a delivery report about a message this office did not send (or did not log): recorded, never answered")
_define("MG-MAIL-064", N, "sent from this office's own address: recorded, never answered")
_define("MG-MAIL-065", N, "no receipt: the sender's address {value!r} cannot be answered")
_define("MG-MAIL-066", N, "the workbook exactly as it was issued, with no answers; fill it in and send it again")
_define("MG-MAIL-067", W, "the last {kind} message to {recipient} bounced ({reason}); correct contact_email in the roster, or send again with --resend")


# --- web (uploads in `matrixgen serve`) -----------------------------------------------------------
_define("MG-WEB-001", E, "the zip holds more than {limit} files; send the returns in smaller zips, or the workbooks themselves")
_define("MG-WEB-002", E, "the zip's contents are out of bounds ({reason}); it was not opened. Zip the workbooks again and send it")
_define("MG-WEB-003", E, "{name} is encrypted inside the zip and was not opened; zip the workbooks without a password")
_define("MG-WEB-004", E, "the zip cannot be read: {reason}; zip the workbooks again, or upload them one by one")
_define("MG-WEB-005", E, "more than {limit} files in one upload; upload them in smaller groups")

def catalogue_markdown() -> str:
    """docs/errors.md: every code, its severity and its message (``{…}`` is filled in per case)."""
    lines = ["# Error codes", "",
             "Every problem matrixgen reports carries one of these codes, a location and a message that",
             "says what to do. This file is generated from `matrixgen/errors.py`; a test keeps it current.", "",
             "| code | severity | message |", "|---|---|---|"]
    for entry in CATALOGUE.values():
        text = entry.template.replace("|", "\\|").replace("!r}", "}")
        lines.append(f"| {entry.code} | {entry.severity.value} | {text} |")
    return "\n".join(lines) + "\n"
