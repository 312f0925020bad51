WITH callable AS (
  SELECT p.proname, p.provolatile
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = 'pg_catalog'
    AND NOT ('internal'::regtype = ANY(p.proargtypes))
    AND p.prorettype NOT IN ('internal'::regtype,'trigger'::regtype,'event_trigger'::regtype,'language_handler'::regtype,
        'fdw_handler'::regtype,'index_am_handler'::regtype,'table_am_handler'::regtype,'tsm_handler'::regtype)
), names AS (
  SELECT proname, bool_and(provolatile IN ('i','s')) AS pure FROM callable GROUP BY proname
)
SELECT proname, pure FROM names ORDER BY proname;
