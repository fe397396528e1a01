def test_fresh_db_is_migrated_and_owned_by_a_non_superuser(fresh_db):
    with fresh_db.connect() as conn:
        user, is_super = conn.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'shop'"
        ).fetchone()[0]
    assert user.endswith("owner") and is_super is False
    assert tables == 6
