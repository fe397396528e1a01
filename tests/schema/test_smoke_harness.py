def test_fresh_db_is_migrated_and_owned_by_a_non_superuser(fresh_db):
    with fresh_db.connect() as conn:
        user, is_super = conn.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'shop'"
        ).fetchone()[0]
    assert user.endswith("owner") and is_super is False
    assert tables == 8  # the five business tables, app_roles, settings, alembic_version


def test_a_database_is_dropped_even_with_app_sessions_still_open(pg):
    import psycopg

    db = pg.clone(f"{pg.prefix}busy", pg.template)
    sessions = [db.connect(role) for role in ("storefront", "backoffice", "reporting")]
    try:
        pg.drop(db.name)  # as the owner, who may not signal other roles' backends directly
        with pg.owner_conn() as conn:
            left = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db.name])
            assert left.fetchone() is None
        for session in sessions:
            try:
                session.execute("SELECT 1")
            except psycopg.OperationalError:
                continue
            raise AssertionError("a session survived its database")
    finally:
        for session in sessions:
            session.close()
