-- benchmarks/api_load.py's data set, generated inside Postgres (set-based INSERT ... SELECT: no row
-- crosses the wire). psql-style variables are substituted by the script: :fiches, :days, :first_day,
-- :card_1, :version_1, :card_2, :version_2, :second_card_share, :retry_share.
-- Deterministic for a given seed: one session, no parallel workers in INSERT ... SELECT. Foreign
-- keys are not checked row by row (the script loads as a replica): every reference is made here.
SELECT setseed(0.21);

CREATE TEMP TABLE bench_groups (idx int PRIMARY KEY, crm text, name text, city text);
INSERT INTO bench_groups VALUES
  (0, 'G-OWN', 'Groupe Île-de-France', 'Paris'), (1, 'G-OTHER', 'Groupe Rhône', 'Lyon'),
  (2, 'G-03', 'Groupe Provence', 'Marseille'), (3, 'G-04', 'Groupe Aquitaine', 'Bordeaux'),
  (4, 'G-05', 'Groupe Nord', 'Lille'), (5, 'G-06', 'Groupe Bretagne', 'Rennes'),
  (6, 'G-07', 'Groupe Alsace', 'Strasbourg'), (7, 'G-08', 'Groupe Occitanie', 'Toulouse'),
  (8, 'G-09', 'Groupe Loire', 'Nantes'), (9, 'G-10', 'Groupe Normandie', 'Rouen');

-- Fiches: one sales day each over :days days, groups of unequal size (the first is the largest),
-- 8 agents per group, 1 to 3 recordings.
INSERT INTO fiches (fiche_id, cle, sales_date, sales_date_source, groupe, crm_group_id, attribution_user_id,
                    agence_nom, prospect_nom, prospect_prenom, prospect_email, prospect_tel, fetch_status,
                    recordings_count, fetched_at, expires_at, raw_data)
SELECT 'B' || lpad(s.n::text, 7, '0'), md5(s.n::text), s.day, 'sales_search', g.name, g.crm,
       g.crm || '-agent-' || (s.n / 7 % 8), 'Agence ' || g.city,
       (ARRAY['Martin','Bernard','Dubois','Thomas','Robert','Richard','Petit','Durand','Leroy','Moreau',
              'Simon','Laurent','Lefebvre','Michel','Garcia','David','Bertrand','Roux','Vincent','Fournier'])[1 + s.n % 20],
       (ARRAY['Marie','Jean','Pierre','Michel','Nathalie','Isabelle','Philippe','Sylvie','Catherine','Alain',
              'Françoise','Patrick','Monique','Nicolas','Christine','Daniel','Sophie','Éric','Valérie','Julien'])[1 + (s.n / 20) % 20],
       'client' || s.n || '@example.test', '+33 6 ' || lpad((s.n % 100000000)::text, 8, '0'),
       'details', 1 + s.n % 3, s.day + time '20:00', s.day + 10, jsonb_build_object('source', 'bench')
FROM (SELECT n, :first_day::date + (n % :days) AS day, floor(power(random(), 1.3) * 10)::int AS gi
      FROM generate_series(1, :fiches) n) s
JOIN bench_groups g ON g.idx = s.gi;

INSERT INTO recordings (fiche_id, call_id, recording_url, start_time, duration_seconds, direction, answered,
                        recording_date, recording_time)
SELECT f.fiche_id, 'call-' || f.id || '-' || r, 'https://crm.example.test/rec/' || f.id || '-' || r,
       f.sales_date + time '09:00' + r * interval '37 minutes', 120 + (f.id * r) % 900,
       CASE WHEN r = 1 THEN 'out' ELSE 'in' END, true, f.sales_date, '09:' || lpad((r * 7)::text, 2, '0')
FROM fiches f CROSS JOIN LATERAL generate_series(1, f.recordings_count) r
WHERE f.fiche_id LIKE 'B%';

INSERT INTO transcripts (recording_id, fiche_id, call_id, status, attempts, provider, model, audio_key, language,
                         text, duration_seconds, transcribed_at)
SELECT r.id, r.fiche_id, r.call_id, CASE WHEN r.id % 50 = 0 THEN 'failed' ELSE 'completed' END, 1, 'elevenlabs',
       'scribe_v1', md5(r.call_id), 'fr', 'Bonjour, je vous appelle au sujet de votre mutuelle.',
       r.duration_seconds, r.start_time + interval '3 hours'
FROM recordings r WHERE r.fiche_id LIKE 'B%';

INSERT INTO fiche_transcriptions (fiche_id, status, recordings_total, recordings_transcribed, started_at, finished_at)
SELECT f.fiche_id, 'complete', f.recordings_count, f.recordings_count, f.sales_date + time '21:00',
       f.sales_date + time '21:10'
FROM fiches f WHERE f.fiche_id LIKE 'B%';

-- (fiche, scorecard) pairs: every fiche on the first scorecard, a share also on the second; a share
-- of the pairs audited again (2 or 3 attempts, the last one latest).
CREATE TEMP TABLE bench_pairs AS
SELECT f.fiche_id, f.sales_date, c.id AS scorecard_id, c.version_id, c.steps,
       CASE WHEN random() < :retry_share THEN 2 + (random() < 0.2)::int ELSE 1 END AS attempts
FROM (SELECT fiche_id, sales_date, random() < :second_card_share AS both_cards
      FROM fiches WHERE fiche_id LIKE 'B%') f
JOIN (VALUES (1, :card_1, :version_1, 10), (2, :card_2, :version_2, 18)) AS c(ord, id, version_id, steps)
  ON c.ord = 1 OR f.both_cards;

INSERT INTO audits (fiche_id, scorecard_id, scorecard_version_id, version, is_latest, status, error, failed_phase,
                    trigger_source, run_id, auditor, model, transcript_mode, prompt_version, transcript_version,
                    input_key, score_percentage, points_earned, points_total, niveau, is_compliant, critical_passed,
                    critical_total, started_at, completed_at, duration_ms, steps_total, successful_steps,
                    failed_steps, recordings_count, timeline_chunks, input_tokens, cached_input_tokens,
                    output_tokens, cost_usd, audited_seconds, needs_review, created_at, updated_at, deleted_at)
SELECT x.fiche_id, x.scorecard_id, x.version_id, x.v, x.v = x.attempts, x.status,
       CASE WHEN x.status = 'failed' THEN 'LLM endpoint answered 503 three times' END,
       CASE WHEN x.status = 'failed' THEN 'steps' END,
       (ARRAY['schedule','automation','api','batch'])[1 + floor(x.r2 * 4)::int], 'run-' || md5(x.fiche_id || x.v),
       CASE WHEN x.r3 < 0.7 THEN 'openai' ELSE 'heuristic' END, CASE WHEN x.r3 < 0.7 THEN 'gpt-5.2' END, 'prompt',
       'p-7', 't-3', md5(x.fiche_id || x.scorecard_id || x.v),
       x.score, CASE WHEN x.done THEN round(x.score)::int END, CASE WHEN x.done THEN 100 END,
       CASE WHEN NOT x.done THEN 'PENDING' WHEN x.score >= 90 THEN 'EXCELLENT' WHEN x.score >= 75 THEN 'BON'
            WHEN x.score >= 60 THEN 'ACCEPTABLE' WHEN x.score >= 45 THEN 'INSUFFISANT' ELSE 'REJET' END,
       CASE WHEN x.done THEN x.score >= 60 END, CASE WHEN x.done THEN 3 - (x.score < 50)::int END,
       CASE WHEN x.done THEN 3 END,
       x.created + interval '2 seconds', CASE WHEN x.done OR x.status = 'failed' THEN x.created + x.took END,
       extract(epoch FROM x.took)::int * 1000, x.steps, CASE WHEN x.done THEN x.steps ELSE 0 END,
       CASE WHEN x.done THEN 0 ELSE x.steps END, 2, 180 + floor(x.r2 * 240)::int,
       x.steps * 9000, x.steps * 8000, x.steps * 300, x.steps * 0.004, 600 + floor(x.r3 * 900),
       x.r2 < 0.08, x.created, x.created,
       CASE WHEN x.v < x.attempts AND x.r4 < 0.05 THEN x.created + interval '2 days' END
FROM (SELECT y.*, y.status = 'completed' AS done,
             CASE WHEN y.status = 'completed' THEN round((30 + 70 * power(random(), 0.5))::numeric, 2) END AS score
      FROM (SELECT p.*, v, p.sales_date + time '18:00' + (v - 1) * interval '1 day'
                           + random() * interval '4 hours' AS created,
                   interval '20 seconds' + random() * interval '100 seconds' AS took,
                   random() AS r2, random() AS r3, random() AS r4,
                   CASE WHEN (v < p.attempts AND random() < 0.15) OR (p.attempts = 1 AND random() < 0.02)
                        THEN 'failed' ELSE 'completed' END AS status
            FROM bench_pairs p CROSS JOIN LATERAL generate_series(1, p.attempts) v) y) x;

-- Steps of completed audits (revision 1), 2 to 4 control points each, 1 or 2 citations per point found.
INSERT INTO audit_steps (audit_id, position, revision, rerun_scope, run_id, created_at, name, severity, is_critical,
                         weight, traite, conforme, score, niveau_conformite, commentaire_global, mots_cles_trouves,
                         minutages, erreurs_transcription_tolerees, total_citations, failed, transcript_mode,
                         input_tokens, cached_input_tokens, output_tokens, cost_usd, gating)
SELECT c.id, c.pos, 1, 'audit', c.run_id, c.completed_at,
       (ARRAY['Présentation','Recueil des besoins','Devoir de conseil','Présentation de l''offre','Garanties',
              'Délais de carence','Tarif','Résiliation','Mandat SEPA','Récapitulatif','Consentement',
              'Droit de rétractation','Questionnaire médical','Bénéficiaires','Date d''effet','Documents',
              'Signature électronique','Conclusion'])[pos],
       CASE WHEN pos % 4 = 0 THEN 'HIGH' ELSE 'MEDIUM' END, pos % 4 = 0, 1 + pos % 5, true, c.conforme,
       CASE c.conforme WHEN 'CONFORME' THEN 1 + pos % 5 WHEN 'PARTIEL' THEN (1 + pos % 5) / 2 ELSE 0 END,
       CASE c.conforme WHEN 'CONFORME' THEN 'BON' WHEN 'PARTIEL' THEN 'ACCEPTABLE' ELSE 'INSUFFISANT' END,
       'Le conseiller a mené cette étape ' || CASE c.conforme WHEN 'CONFORME' THEN 'clairement.' ELSE 'en partie.' END,
       '["mutuelle", "garanties"]', '["00:42", "03:15"]', 0, 3, false, 'prompt', 9000, 8000, 300, 0.004, '{}'
FROM (SELECT a.id, a.run_id, a.completed_at, pos,
             CASE WHEN random() < 0.75 THEN 'CONFORME' WHEN random() < 0.5 THEN 'PARTIEL' ELSE 'NON_CONFORME' END
               AS conforme
      FROM audits a CROSS JOIN LATERAL generate_series(1, a.steps_total) pos
      WHERE a.status = 'completed') c;

INSERT INTO audit_control_points (step_id, index, point, statut, commentaire, minutages, erreur_transcription_notee,
                                  downgraded, confidence, decision_rule)
SELECT s.id, i,
       (ARRAY['Le conseiller donne son nom','Le nom de la société est cité','Le client confirme son identité',
              'Les besoins de santé sont recueillis','Les garanties sont expliquées','Le tarif mensuel est annoncé',
              'Le délai de rétractation est rappelé','Le consentement est recueilli'])[1 + (s.position + i) % 8],
       s.statut, 'Trouvé dans l''appel ' || CASE s.statut WHEN 'PRESENT' THEN 'avec une citation exacte.'
                                                            ELSE 'sans preuve suffisante.' END,
       '["01:12"]', false, false, round(random()::numeric, 2), 'keyword_window'
FROM (SELECT s.id, s.position, i,
             CASE WHEN random() < 0.7 THEN 'PRESENT' WHEN random() < 0.4 THEN 'PARTIEL'
                  WHEN random() < 0.7 THEN 'ABSENT' ELSE 'NON_APPLICABLE' END AS statut
      FROM audit_steps s CROSS JOIN LATERAL generate_series(1, 2 + s.position % 3) i) s;

INSERT INTO audit_citations (control_point_id, index, texte, chunk_id, call_id, recording_index, chunk_index, speaker,
                             role, start_seconds, end_seconds, minutage, match, similarity)
SELECT p.id, k, 'Alors je vous confirme les garanties de votre contrat santé, madame.',
       'call-' || p.step_id || ':' || (p.id % 90), 'call-' || p.step_id, 0, p.id % 90, 'speaker_0', 'agent',
       (p.id % 90) * 6.5, (p.id % 90) * 6.5 + 4.2, lpad(((p.id % 90) * 6 / 60)::text, 2, '0') || ':30', 'exact', 1.0
FROM audit_control_points p CROSS JOIN LATERAL generate_series(1, 1 + p.id % 2) k
WHERE p.statut IN ('PRESENT', 'PARTIEL');
