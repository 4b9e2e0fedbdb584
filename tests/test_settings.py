"""The mailbox's settings for matrixgen collect: the environment, then matrixgen.toml's [imap] table."""

from __future__ import annotations

from matrixgen.mail.settings import load_imap_settings

ENV = {"MATRIXGEN_IMAP_HOST": "imap.example.gov", "MATRIXGEN_IMAP_USER": "sectors", "MATRIXGEN_IMAP_PASSWORD": "pw"}


def codes(result) -> list[tuple[str, str]]:
    return [(p.code, p.location) for p in result.problems]


def test_imap_settings__environment_only__defaults_ssl_993_inbox_and_processed():
    s = load_imap_settings(env=ENV).settings
    assert (s.host, s.port, s.security, s.folder, s.done_folder, s.ca_file) == (
        "imap.example.gov", 993, "ssl", "INBOX", "matrixgen/processed", None)
    assert "pw" not in repr(s) and s.mailbox == "imap://sectors@imap.example.gov:993/INBOX"


def test_imap_settings__file_table__read_and_the_environment_wins(tmp_path):
    (tmp_path / "ca.pem").write_text("")
    file = tmp_path / "matrixgen.toml"
    file.write_text('[imap]\nhost = "file.example.gov"\nport = 1993\nsecurity = "starttls"\nfolder = "Returns"\n'
                    'done_folder = "Returns/done"\n')
    s = load_imap_settings(file, env={**ENV, "MATRIXGEN_IMAP_HOST": "env.example.gov"}).settings
    assert (s.host, s.port, s.security, s.folder, s.done_folder) == ("env.example.gov", 1993, "starttls", "Returns",
                                                                     "Returns/done")


def test_imap_settings__password_in_the_file__refused_with_where(tmp_path):
    file = tmp_path / "matrixgen.toml"
    file.write_text('[imap]\npassword = "secret"\n')
    result = load_imap_settings(file, env=ENV)
    assert not result.valid and codes(result) == [("MG-MAIL-004", "matrixgen.toml: imap.password")]


def test_imap_settings__every_problem_at_once():
    result = load_imap_settings(env={"MATRIXGEN_IMAP_SECURITY": "tls", "MATRIXGEN_IMAP_PORT": "99999",
                                     "MATRIXGEN_IMAP_DONE_FOLDER": "INBOX", "MATRIXGEN_IMAP_CA_FILE": "/nonexistent.pem"})
    assert codes(result) == [
        ("MG-MAIL-001", "settings"), ("MG-MAIL-001", "settings"), ("MG-MAIL-006", "MATRIXGEN_IMAP_PASSWORD"),
        ("MG-MAIL-002", "MATRIXGEN_IMAP_SECURITY"), ("MG-MAIL-003", "MATRIXGEN_IMAP_PORT"),
        ("MG-MAIL-010", "MATRIXGEN_IMAP_DONE_FOLDER"), ("MG-MAIL-008", "MATRIXGEN_IMAP_CA_FILE")]


def test_imap_settings__security_none__a_warning_only():
    result = load_imap_settings(env={**ENV, "MATRIXGEN_IMAP_SECURITY": "none"})
    assert result.valid and codes(result) == [("MG-MAIL-007", "MATRIXGEN_IMAP_SECURITY")] and result.settings.port == 143
