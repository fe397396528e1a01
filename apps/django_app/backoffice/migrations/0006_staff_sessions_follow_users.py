"""Staff sessions (the shared schema's ``identity``) follow the users and sessions here.

Triggers on Django's own tables, in our own namespace, end a user's staff sessions
whenever whoever writes (the admin, ``manage.py``, a queryset ``update()``, plain SQL):

* changes their password, username, or takes away active, staff or superuser status;
* deletes the user;
* takes a group or a permission from them, or a permission from a group of theirs;
* deletes a session row (logout, a key cycled on a password change, ``clearsessions``):
  that session's staff session ends.

Permission triggers lock the users' rows first, as ``identity.begin`` does at login, so a
login racing a change either sees it or is ended by it. The functions they call are the
shared schema's (``identity``, SECURITY DEFINER); run ``mergepoint migrate`` first.
"""

from django.db import migrations

FUNCTIONS = {
    # A user row changed or deleted: every staff session of theirs.
    "staff_sessions_end_for_user": """
BEGIN
    PERFORM identity.end_user_staff_sessions(OLD.id);
    RETURN NULL;
END""",
    # A group membership or a user's own permission went.
    "staff_sessions_end_for_member": """
BEGIN
    PERFORM 1 FROM {ns}.auth_user u WHERE u.id = OLD.user_id FOR NO KEY UPDATE;
    PERFORM identity.end_user_staff_sessions(OLD.user_id);
    RETURN NULL;
END""",
    # A group lost a permission: each member's staff sessions, rows locked in id order.
    "staff_sessions_end_for_group": """
DECLARE
    member bigint;
BEGIN
    FOR member IN
        SELECT u.id FROM {ns}.auth_user u
          JOIN {ns}.auth_user_groups ug ON ug.user_id = u.id
         WHERE ug.group_id = OLD.group_id
         ORDER BY u.id
           FOR NO KEY UPDATE OF u
    LOOP
        PERFORM identity.end_user_staff_sessions(member);
    END LOOP;
    RETURN NULL;
END""",
    # A session row went: its staff session (identity keys it by the key's sha256).
    "staff_sessions_end_for_session": """
BEGIN
    PERFORM identity.end_staff_session(
        encode(sha256(convert_to(OLD.session_key, 'UTF8')), 'hex'));
    RETURN NULL;
END""",
}

USER_CHANGED = (
    "OLD.password IS DISTINCT FROM NEW.password"
    " OR OLD.username IS DISTINCT FROM NEW.username"
    " OR (OLD.is_active AND NOT NEW.is_active)"
    " OR (OLD.is_staff AND NOT NEW.is_staff)"
    " OR (OLD.is_superuser AND NOT NEW.is_superuser)"
)

# (trigger, table, event and condition, function)
TRIGGERS = (
    ("staff_sessions_user_changed", "auth_user",
     f"AFTER UPDATE ON {{ns}}.auth_user FOR EACH ROW WHEN ({USER_CHANGED})",
     "staff_sessions_end_for_user"),
    ("staff_sessions_user_deleted", "auth_user",
     "AFTER DELETE ON {ns}.auth_user FOR EACH ROW", "staff_sessions_end_for_user"),
    ("staff_sessions_group_left", "auth_user_groups",
     "AFTER UPDATE OR DELETE ON {ns}.auth_user_groups FOR EACH ROW",
     "staff_sessions_end_for_member"),
    ("staff_sessions_permission_taken", "auth_user_user_permissions",
     "AFTER UPDATE OR DELETE ON {ns}.auth_user_user_permissions FOR EACH ROW",
     "staff_sessions_end_for_member"),
    ("staff_sessions_group_permission_taken", "auth_group_permissions",
     "AFTER UPDATE OR DELETE ON {ns}.auth_group_permissions FOR EACH ROW",
     "staff_sessions_end_for_group"),
    ("staff_sessions_session_deleted", "django_session",
     "AFTER DELETE ON {ns}.django_session FOR EACH ROW", "staff_sessions_end_for_session"),
)  # fmt: skip


def _namespace(schema_editor) -> str:
    """Where Django's tables are: the first namespace of the connection's search_path."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT current_schema()")
        return schema_editor.quote_name(cursor.fetchone()[0])


def create(apps, schema_editor):
    ns = _namespace(schema_editor)
    for name, body in FUNCTIONS.items():
        schema_editor.execute(
            f"CREATE OR REPLACE FUNCTION {ns}.{name}() RETURNS trigger LANGUAGE plpgsql"
            f" SET search_path = pg_catalog, pg_temp AS $fn${body.format(ns=ns)}\n$fn$"
        )
    for trigger, _table, when, function in TRIGGERS:
        schema_editor.execute(
            f"CREATE TRIGGER {trigger} {when.format(ns=ns)} EXECUTE FUNCTION {ns}.{function}()"
        )


def drop(apps, schema_editor):
    ns = _namespace(schema_editor)
    for trigger, table, _when, _function in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER {trigger} ON {ns}.{table}")
    for name in FUNCTIONS:
        schema_editor.execute(f"DROP FUNCTION {ns}.{name}()")


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0005_clerks_see_the_feed"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("sessions", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop)]
