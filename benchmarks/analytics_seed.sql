-- benchmarks/analytics.py's year of audits, generated inside Postgres (set-based INSERT ... SELECT: no
-- row crosses the wire). Variables substituted by the script: :first_day, :days, :fiches, :steps, :points.
-- Deterministic for a given seed (one session). Each fiche has one completed latest audit of one
-- :steps-step scorecard; each step a verdict drawn at random, its score from it, and :points control
-- points; the audit's score and level follow from its steps as `domain.audits.scoring` computes them.
SELECT setseed(0.23);

INSERT INTO scorecards (id, name) VALUES (1, 'bench');

INSERT INTO scorecard_versions (id, scorecard_id, version, name) VALUES (1, 1, 1, 'bench');

INSERT INTO fiches (fiche_id, sales_date, crm_group_id, groupe, attribution_user_id)
SELECT 'B' || to_char(d.day, 'YYYYMMDD') || lpad(n::text, 4, '0'), d.day, 'G' || n % 8, 'team ' || n % 8,
       'agent-' || n % 40
FROM (SELECT :first_day::date + k AS day FROM generate_series(0, :days - 1) k) d
CROSS JOIN generate_series(0, :fiches - 1) n;

INSERT INTO audits (fiche_id, scorecard_id, scorecard_version_id, version, is_latest, status, trigger_source,
                    auditor, transcript_mode, prompt_version, niveau, points_total, input_tokens, output_tokens,
                    cost_usd, audited_seconds, duration_ms, completed_at, steps_total, successful_steps)
SELECT f.fiche_id, 1, 1, 1, true, 'completed', 'api', 'heuristic', 'prompt', 'bench-1', 'PENDING', :steps * 5,
       12000, 900, 0.02, 420.0, 3500, f.sales_date + time '18:00', :steps, :steps
FROM fiches f ORDER BY f.id;

-- Weight 5 a step, the first one critical; CONFORME scores 5, PARTIEL 2, NON_CONFORME 0.
INSERT INTO audit_steps (audit_id, position, revision, name, severity, is_critical, weight, traite, conforme, score,
                         niveau_conformite, commentaire_global, erreurs_transcription_tolerees, total_citations,
                         transcript_mode, input_tokens, cached_input_tokens, output_tokens, cost_usd)
SELECT s.id, s.pos, 1, 'step ' || s.pos, 'MEDIUM', s.pos = 1, 5, true, s.conforme,
       CASE s.conforme WHEN 'CONFORME' THEN 5 WHEN 'PARTIEL' THEN 2 ELSE 0 END,
       CASE s.conforme WHEN 'CONFORME' THEN 'BON' WHEN 'PARTIEL' THEN 'ACCEPTABLE' ELSE 'INSUFFISANT' END,
       '', 0, 0, 'prompt', 0, 0, 0, 0.0
FROM (SELECT a.id, pos,
             CASE WHEN random() < 0.8 THEN 'CONFORME' WHEN random() < 0.5 THEN 'PARTIEL' ELSE 'NON_CONFORME' END
               AS conforme
      FROM audits a CROSS JOIN generate_series(1, :steps) pos ORDER BY a.id, pos) s;

INSERT INTO audit_control_points (step_id, index, point, statut, commentaire, erreur_transcription_notee)
SELECT s.id, i, 'point ' || s.position || '.' || i,
       (ARRAY['PRESENT', 'PRESENT', 'PRESENT', 'ABSENT', 'PARTIEL', 'NON_APPLICABLE'])[1 + floor(random() * 6)::int],
       '', false
FROM audit_steps s CROSS JOIN generate_series(1, :points) i ORDER BY s.id, i;

UPDATE audits a
SET points_earned = x.earned,
    score_percentage = round(x.earned * 100.0 / a.points_total, 2),
    niveau = CASE WHEN NOT x.critical_ok THEN 'REJET' WHEN x.earned * 100.0 / a.points_total >= 90 THEN 'EXCELLENT'
                  WHEN x.earned * 100.0 / a.points_total >= 75 THEN 'BON'
                  WHEN x.earned * 100.0 / a.points_total >= 60 THEN 'ACCEPTABLE' ELSE 'INSUFFISANT' END,
    is_compliant = x.critical_ok
FROM (SELECT audit_id, sum(least(score, weight)) AS earned,
             bool_and(NOT is_critical OR conforme = 'CONFORME') AS critical_ok
      FROM audit_steps GROUP BY audit_id) x
WHERE x.audit_id = a.id;
