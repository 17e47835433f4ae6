"""A large organization in set-based SQL, for the scale and KPI benchmarks and the plan regression test.

One organization with reps, supervisors and teams, customers and contacts, leads (15 % pooled),
activities, opportunities with their stage stays, tasks, SLA timers, assignment history and audit
events, written with INSERT ... SELECT over generate_series on PostgreSQL (minutes for a million
leads on two cores, where the API would take hours). Skew is deliberate: owners are drawn from a
power law (the busiest rep holds ~20x the lightest one's records) and customers from a steeper one
(a handful of customers carry thousands of activities). Columns the services maintain are derived
from the rows they summarise, as the services would have left them: a lead's first_response_at and
follow-up instants from its activities, a customer's last_follow_up_at, an opportunity's stage and
closing from its stage stays, an SLA timer's state and next_fire_at from its schedule and `now`.

Run:
    .venv/bin/python -m bench.scale_data --database crm_scale_bench --preset screens
    .venv/bin/python -m bench.scale_data --database crm_scale_kpi --preset kpi
    .venv/bin/python -m bench.scale_data --database crm_scale_100k --preset screens --leads 100000

Every generated user signs in with the password `bench-pass-2026`: `scale.director`,
`scale.sup1`..., `scale.rep1` (the busiest) ... `scale.repN`, `scale.marketing`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.db import create_engine, create_sessionmaker
from app.services.identity.security import hash_password
from app.services.organizations import create_organization
from bench.common import CRM, bench_env, recreate_database

PASSWORD = "bench-pass-2026"
USERNAME_PREFIX = "scale."


@dataclass(frozen=True)
class Sizes:
    reps: int
    teams: int
    leads: int
    customers: int
    opportunities: int
    activities: int
    tasks: int
    timers: int
    days: int  # how far back history goes

    def with_leads(self, leads: int) -> Sizes:
        """The same organization grown or shrunk to `leads`, every volume but the people in step."""
        factor = leads / self.leads
        scaled = {
            name: max(1, round(getattr(self, name) * factor))
            for name in ("customers", "opportunities", "activities", "tasks", "timers")
        }
        return dataclasses.replace(self, leads=leads, **scaled)


PRESETS = {
    # The outside scale run of issue 23 (screens, lists and search).
    "screens": Sizes(200, 10, 1_000_000, 300_000, 200_000, 3_000_000, 120_000, 1_000_000, 365),
    # The KPI issue's history: more people, two years, more activities and deals.
    "kpi": Sizes(500, 50, 1_000_000, 300_000, 300_000, 5_000_000, 200_000, 1_000_000, 730),
    # The plan regression test's mid-size tenant, seeded in seconds.
    "ci": Sizes(40, 4, 50_000, 15_000, 10_000, 150_000, 6_000, 50_000, 365),
}

# Each step is one statement over the parameters in `_p`; the temp tables `_rep`, `_cust`,
# `_lead`, `_opp` number the rows so a random draw can join to them.
_STEPS: list[tuple[str, str]] = [
    (
        "parameters",
        """
        CREATE TEMP TABLE _p AS SELECT
            CAST(:org AS uuid) AS org, CAST(:now AS timestamptz) AS now,
            CAST(:reps AS int) AS reps, CAST(:teams AS int) AS teams,
            CAST(:leads AS int) AS leads, CAST(:customers AS int) AS customers,
            CAST(:opportunities AS int) AS opportunities, CAST(:activities AS bigint) AS activities,
            CAST(:tasks AS int) AS tasks, CAST(:timers AS int) AS timers,
            CAST(:days AS int) * interval '1 day' AS span,
            CAST(:password_hash AS text) AS password_hash, CAST(:prefix AS text) AS prefix,
            ARRAY['华东','华南','华北','西南','华中','东北','西北','海外'] AS regions,
            ARRAY['建材','医疗器械','快消','工业配件','软件','化工','物流','电子'] AS industries,
            ARRAY['王','李','张','刘','陈','杨','黄','赵','吴','周','徐','孙','马','朱','胡'] AS surnames,
            ARRAY['伟','芳','娜','敏','静','强','磊','军','洋','勇','艳','杰','涛','明','超'] AS given
        """,
    ),
    (
        "users",
        """
        INSERT INTO "user" (id, organization_id, username, display_name, role, is_active, is_available,
                            password_hash, created_at, updated_at, version)
        SELECT gen_random_uuid(), p.org, p.prefix || u.username, u.display_name, u.role, true, true,
               p.password_hash, p.now - p.span, p.now - p.span, 1
        FROM _p p, LATERAL (
            SELECT 'director' AS username, '销售总监' AS display_name, 'director' AS role
            UNION ALL SELECT 'marketing', '市场部', 'marketing'
            UNION ALL SELECT 'sup' || n, '主管' || n, 'supervisor' FROM generate_series(1, p.teams) n
            UNION ALL SELECT 'rep' || n, '销售' || n, 'rep' FROM generate_series(1, p.reps) n
        ) u
        """,
    ),
    (
        "teams",
        """
        INSERT INTO team (id, organization_id, name, region, supervisor_id, created_at, updated_at, version)
        SELECT gen_random_uuid(), p.org, '销售' || n || '组', p.regions[1 + (n - 1) % 8], s.id,
               p.now - p.span, p.now - p.span, 1
        FROM _p p CROSS JOIN generate_series(1, p.teams) n
        JOIN "user" s ON s.organization_id = p.org AND s.username = p.prefix || 'sup' || n
        """,
    ),
    (
        "rep numbering",
        """
        CREATE TEMP TABLE _rep AS
        SELECT n, u.id, t.id AS team_id
        FROM _p p CROSS JOIN generate_series(1, p.reps) n
        JOIN "user" u ON u.organization_id = p.org AND u.username = p.prefix || 'rep' || n
        JOIN team t ON t.organization_id = p.org AND t.name = '销售' || (1 + (n - 1) % p.teams) || '组'
        """,
    ),
    (
        "team members",
        """
        INSERT INTO team_member (organization_id, team_id, user_id)
        SELECT p.org, r.team_id, r.id FROM _p p, _rep r
        """,
    ),
    (
        "sla policies",
        """
        INSERT INTO sla_policy (id, organization_id, name, kind, enabled, target_minutes, rules,
                                created_at, updated_at, version)
        SELECT gen_random_uuid(), p.org, k.name, k.kind, true, k.target_minutes,
               '{"warn_percent": 80, "steps": [], "sources": [], "tiers": []}', p.now - p.span,
               p.now - p.span, 1
        FROM _p p, (VALUES ('首次响应', 'first_response', 240), ('阶段停留', 'stage_dwell', NULL),
                           ('客户跟进', 'follow_up', 10080), ('交接响应', 'handover_response', 120))
                   AS k(name, kind, target_minutes)
        """,
    ),
    (
        "customers",
        # Owners from a power law over the reps (rep1 the busiest); 2 % have no owner.
        """
        CREATE TEMP TABLE _cust AS
        SELECT c.n, gen_random_uuid() AS id, CASE WHEN c.r < 0.02 THEN NULL ELSE r.id END AS owner_id,
               p.now - p.span * c.age AS created_at,
               p.regions[1 + c.n % 8] || p.industries[1 + (c.n / 8) % 8] || c.n || '有限公司' AS name,
               p.regions[1 + c.n % 8] AS region, p.industries[1 + (c.n / 8) % 8] AS industry,
               round((power(random(), 4) * 5000000)::numeric, 2) AS annual_purchase
        FROM _p p, LATERAL (
            SELECT n, random() AS r, random() AS age, 1 + floor(p.reps * power(random(), 1.8))::int AS rep_n
            FROM generate_series(1, p.customers) n
        ) c JOIN _rep r ON r.n = c.rep_n;
        CREATE UNIQUE INDEX ON _cust (n);
        INSERT INTO customer (id, organization_id, code, name, name_key, industry, region, annual_purchase,
                              tier, owner_id, tags, custom_fields, possible_duplicates, created_at,
                              updated_at, version)
        SELECT c.id, p.org, 'C' || lpad(c.n::text, 6, '0'), c.name, c.name, c.industry, c.region,
               c.annual_purchase,
               CASE WHEN c.annual_purchase >= 1000000 THEN 'A' WHEN c.annual_purchase >= 200000 THEN 'B'
                    ELSE 'C' END,
               c.owner_id, '[]', '{}', '[]', c.created_at, c.created_at, 1
        FROM _p p, _cust c;
        INSERT INTO sequence_counter (organization_id, name, value)
        SELECT p.org, 'customer_code', p.customers FROM _p p
        ON CONFLICT (organization_id, name) DO UPDATE SET value = EXCLUDED.value
        """,
    ),
    (
        "contacts",
        """
        INSERT INTO contact (id, organization_id, customer_id, name, title, phone, is_decision_maker,
                             buying_role, custom_fields, created_at, updated_at, version)
        SELECT gen_random_uuid(), p.org, c.id, p.surnames[1 + (c.n + k) % 15] || p.given[1 + k % 15],
               CASE WHEN k = 0 THEN '采购经理' ELSE '工程师' END, '139' || lpad((c.n * 3 + k)::text, 8, '0'),
               k = 0, CASE WHEN k = 0 THEN 'decision_maker' ELSE 'influencer' END, '{}', c.created_at,
               c.created_at, 1
        FROM _p p, _cust c, generate_series(0, CASE WHEN c.n % 3 = 0 THEN 1 ELSE 0 END) k
        """,
    ),
    (
        "leads",
        # Status mix: 15 % pooled, 2 % waiting for an owner, 15 % assigned and not yet worked, the
        # rest worked (contacted, qualified, converted into a customer, disqualified).
        # Marketing entered every fifth lead (it reads them, whoever works them now).
        """
        CREATE TEMP TABLE _lead AS
        SELECT l.n, gen_random_uuid() AS id, l.status, l.created_at,
               CASE WHEN l.status IN ('pooled', 'new') THEN NULL ELSE r.id END AS owner_id,
               CASE WHEN l.status = 'pooled' THEN r.id END AS previous_owner_id,
               CASE WHEN l.status <> 'new' THEN l.created_at + interval '1 minute' * (1 + 30 * random())
               END AS assigned_at,
               CASE WHEN l.status = 'pooled' THEN l.created_at + (p.now - l.created_at) * random() END
                   AS pooled_at,
               CASE WHEN l.status = 'converted' THEN c.id END AS customer_id,
               CASE WHEN l.status = 'converted' THEN l.created_at + (p.now - l.created_at) * random() END
                   AS converted_at,
               CASE WHEN l.status = 'disqualified' THEN l.created_at + (p.now - l.created_at) * random()
               END AS disqualified_at
        FROM _p p, LATERAL (
            SELECT g.n, g.rep_n, g.customer_n, s.status,
                   CASE s.status WHEN 'new' THEN p.now - interval '2 hours' * g.age
                                 WHEN 'assigned' THEN p.now - interval '3 days' * g.age
                                 ELSE p.now - p.span * g.age END AS created_at
            FROM (
                SELECT n, random() AS r, random() AS age,
                       1 + floor(p.reps * power(random(), 1.8))::int AS rep_n,
                       1 + floor(p.customers * power(random(), 3))::int AS customer_n
                FROM generate_series(1, p.leads) n
            ) g,
            LATERAL (SELECT CASE WHEN g.r < 0.15 THEN 'pooled' WHEN g.r < 0.17 THEN 'new'
                                 WHEN g.r < 0.32 THEN 'assigned' WHEN g.r < 0.62 THEN 'contacted'
                                 WHEN g.r < 0.72 THEN 'qualified' WHEN g.r < 0.82 THEN 'converted'
                                 ELSE 'disqualified' END AS status) s
        ) l
        JOIN _rep r ON r.n = l.rep_n JOIN _cust c ON c.n = l.customer_n;
        CREATE UNIQUE INDEX ON _lead (n);
        INSERT INTO lead (id, organization_id, name, company, phone, email, phone_key, email_key, company_key,
                          source, region, industry, product_line, status, owner_id, assigned_at, pooled_at,
                          previous_owner_id, release_reason, customer_id, converted_at, disqualified_at,
                          disqualified_reason, assignment_strategy, assignment_reason, possible_duplicates,
                          tags, custom_fields, created_by_id, created_at, updated_at, version)
        SELECT l.id, p.org, p.surnames[1 + l.n % 15] || p.given[1 + (l.n / 15) % 15] || (l.n % 1000),
               p.regions[1 + l.n % 8] || p.industries[1 + (l.n / 8) % 8] || '公司' || (l.n / 3),
               '1' || (3000000000 + l.n), CASE WHEN l.n % 4 = 0 THEN 'lead' || l.n || '@example.cn' END,
               '1' || (3000000000 + l.n), CASE WHEN l.n % 4 = 0 THEN 'lead' || l.n || '@example.cn' END,
               p.regions[1 + l.n % 8] || p.industries[1 + (l.n / 8) % 8] || '公司' || (l.n / 3),
               (ARRAY['web_form','phone_400','ad','exhibition','referral','wecom','import','api'])[1 + l.n % 8],
               p.regions[1 + l.n % 8], p.industries[1 + (l.n / 8) % 8], '标准产品线', l.status, l.owner_id,
               l.assigned_at, l.pooled_at, l.previous_owner_id,
               CASE WHEN l.status = 'pooled' THEN 'idle: no effective follow-up' END, l.customer_id,
               l.converted_at, l.disqualified_at, CASE WHEN l.status = 'disqualified' THEN '无需求' END,
               CASE WHEN l.owner_id IS NOT NULL OR l.previous_owner_id IS NOT NULL THEN 'least_loaded' END,
               CASE WHEN l.owner_id IS NOT NULL OR l.previous_owner_id IS NOT NULL THEN 'rule: 默认' END,
               '[]', '[]', '{}', CASE WHEN l.n % 5 = 0 THEN m.id END, l.created_at, l.created_at, 1
        FROM _p p JOIN "user" m ON m.organization_id = p.org AND m.username = p.prefix || 'marketing', _lead l
        """,
    ),
    (
        "opportunities",
        # Older deals are closed (won 40 %, lost 60 %), the last quarter's mostly open. `stages`
        # counts the stays: the open stages passed through, plus the won or lost stage if closed.
        """
        CREATE TEMP TABLE _stage AS
        SELECT s.id, s.pipeline_id, s.kind, s.max_dwell_hours,
               row_number() OVER (PARTITION BY s.kind ORDER BY s.position) AS k,
               count(*) OVER (PARTITION BY s.kind) AS of_kind
        FROM _p p JOIN pipeline pl ON pl.organization_id = p.org AND pl.is_default
        JOIN pipeline_stage s ON s.pipeline_id = pl.id AND s.archived_at IS NULL;
        CREATE TEMP TABLE _opp AS
        SELECT o.n, gen_random_uuid() AS id, c.id AS customer_id, coalesce(c.owner_id, r.id) AS owner_id,
               o.created_at, o.status,
               CASE WHEN o.status = 'won' THEN st.open_count ELSE 1 + floor(o.r3 * st.open_count)::int
               END AS open_stages,
               CASE WHEN o.status <> 'open'
                    THEN least(o.created_at + interval '1 day' * (7 + 120 * o.r4), p.now) END AS closed_at,
               0.6 + 0.8 * o.r4 AS pace
        FROM _p p, (SELECT count(*)::int AS open_count FROM _stage WHERE kind = 'open') st, LATERAL (
            SELECT g.*, CASE WHEN p.now - g.created_at < interval '90 days' AND g.r < 0.8 THEN 'open'
                             WHEN g.r2 < 0.4 THEN 'won' ELSE 'lost' END AS status
            FROM (
                SELECT n, p.now - p.span * random() AS created_at, random() AS r, random() AS r2,
                       random() AS r3, random() AS r4,
                       1 + floor(p.customers * power(random(), 3))::int AS customer_n,
                       1 + floor(p.reps * power(random(), 1.8))::int AS rep_n
                FROM generate_series(1, p.opportunities) n
            ) g
        ) o
        JOIN _cust c ON c.n = o.customer_n JOIN _rep r ON r.n = o.rep_n;
        CREATE UNIQUE INDEX ON _opp (n);
        CREATE TEMP TABLE _stay AS
        SELECT o.id AS opportunity_id, o.owner_id, j, s.id AS stage_id, s.pipeline_id, s.max_dwell_hours,
               o.created_at
                   + (coalesce(o.closed_at, p.now) - o.created_at) * power(j::float / o.open_stages, o.pace)
                   AS entered_at,
               CASE WHEN j = 0 THEN NULL WHEN j = o.open_stages THEN 'close' ELSE 'forward' END AS move,
               j = o.last_stay AS is_last
        FROM _p p, (
            SELECT *, open_stages - CASE WHEN status = 'open' THEN 1 ELSE 0 END AS last_stay FROM _opp
        ) o
        CROSS JOIN LATERAL generate_series(0, o.last_stay) j
        JOIN _stage s ON (j < o.open_stages AND s.kind = 'open' AND s.k = j + 1)
                      OR (j = o.open_stages AND s.kind = o.status AND s.k = 1);
        INSERT INTO opportunity (id, organization_id, name, customer_id, owner_id, pipeline_id, stage_id,
                                 stage_entered_at, status, amount, currency, expected_close_date,
                                 product_lines, closed_at, lose_reason, custom_fields, created_at, updated_at,
                                 version)
        SELECT o.id, p.org, '项目' || o.n, o.customer_id, o.owner_id, last.pipeline_id, last.stage_id,
               last.entered_at, o.status, round((20000 + power(random(), 3) * 2000000)::numeric, -2), 'CNY',
               (coalesce(o.closed_at, o.created_at + interval '60 days'))::date, '["标准产品线"]', o.closed_at,
               CASE WHEN o.status = 'lost' THEN '价格' END, '{}', o.created_at,
               greatest(o.created_at, last.entered_at), 1
        FROM _p p, _opp o JOIN _stay last ON last.opportunity_id = o.id AND last.is_last
        """,
    ),
    (
        "stage stays",
        """
        INSERT INTO stage_stay (id, organization_id, opportunity_id, pipeline_id, stage_id, move, is_abnormal,
                                entered_at, entered_by_id, left_at, dwell_seconds)
        SELECT gen_random_uuid(), p.org, s.opportunity_id, s.pipeline_id, s.stage_id, s.move, false,
               s.entered_at, s.owner_id, s.left_at, extract(epoch FROM s.left_at - s.entered_at)::int
        FROM _p p, (
            SELECT *, lead(entered_at) OVER (PARTITION BY opportunity_id ORDER BY j) AS left_at FROM _stay
        ) s
        """,
    ),
    (
        "activities",
        # 55 % on leads that were worked (before they were pooled, for pooled ones), 30 % on
        # customers (large customers drawn most), 15 % on opportunities. Half of a converted
        # lead's activities also name its customer.
        """
        CREATE TEMP TABLE _worked AS
        SELECT row_number() OVER () AS n, id, coalesce(owner_id, previous_owner_id) AS owner_id, customer_id,
               created_at, coalesce(pooled_at, p.now) AS until
        FROM _p p, _lead WHERE status IN ('contacted', 'qualified', 'converted', 'disqualified')
                            OR (status = 'pooled' AND n % 5 <> 0);
        CREATE UNIQUE INDEX ON _worked (n);
        CREATE TEMP TABLE _act AS
        SELECT n, random() AS r, random() AS t, random() AS e, random() AS pick FROM _p p,
               generate_series(1, p.activities) n;
        INSERT INTO activity (id, organization_id, type, occurred_at, owner_id, lead_id, customer_id,
                              opportunity_id, warnings, notes, info_points, call_outcome, duration_seconds,
                              latitude, longitude, has_geo_mismatch, is_effective, attachment_ids,
                              custom_fields, created_at, updated_at, version)
        SELECT gen_random_uuid(), p.org, a.type, a.occurred_at, a.owner_id, a.lead_id, a.customer_id,
               a.opportunity_id, '[]', '跟进记录', CASE WHEN a.effective THEN '{"needs": "采购", "budget": "50万"}'::jsonb
               ELSE '{}'::jsonb END, a.call_outcome,
               CASE WHEN a.call_outcome = 'connected' THEN 30 + (a.t * 600)::int END,
               CASE WHEN a.type = 'visit' THEN 31.2 + a.e END, CASE WHEN a.type = 'visit' THEN 121.4 + a.e END,
               false, a.effective, '[]', '{}', a.occurred_at, a.occurred_at, 1
        FROM _p p, (
            SELECT x.*, t.type,
                   CASE WHEN t.type = 'call' THEN (ARRAY['connected','connected','connected','no_answer',
                        'no_answer','busy','rejected','wrong_number'])[1 + (x.n % 8)] END AS call_outcome,
                   CASE WHEN t.type = 'note' THEN false
                        WHEN t.type = 'call' THEN x.n % 8 < 3 AND x.e < 0.7
                        WHEN t.type IN ('visit','meeting','demo') THEN x.e < 0.9 ELSE x.e < 0.3 END AS effective
            FROM (
                SELECT a.n, a.e, a.r, a.t, w.id AS lead_id,
                       CASE WHEN a.t < 0.5 THEN w.customer_id END AS customer_id, NULL::uuid AS opportunity_id,
                       w.owner_id, w.created_at + (w.until - w.created_at) * a.t AS occurred_at
                FROM _p p CROSS JOIN _act a
                JOIN _worked w ON w.n = 1 + floor(a.pick * (SELECT count(*) FROM _worked))::int
                WHERE a.r < 0.55
                UNION ALL
                SELECT a.n, a.e, a.r, a.t, NULL, c.id, NULL, coalesce(c.owner_id, r.id),
                       c.created_at + (p.now - c.created_at) * a.t
                FROM _p p CROSS JOIN _act a
                JOIN _cust c ON c.n = 1 + floor(p.customers * power(a.pick, 3))::int
                JOIN _rep r ON r.n = 1 + a.n % p.reps
                WHERE a.r >= 0.55 AND a.r < 0.85
                UNION ALL
                SELECT a.n, a.e, a.r, a.t, NULL, o.customer_id, o.id, o.owner_id,
                       o.created_at + (coalesce(o.closed_at, p.now) - o.created_at) * a.t
                FROM _p p CROSS JOIN _act a JOIN _opp o ON o.n = 1 + floor(a.pick * p.opportunities)::int
                WHERE a.r >= 0.85
            ) x,
            LATERAL (SELECT (ARRAY['call','call','call','call','call','call','call','call','call',
                                   'visit','visit','visit','meeting','meeting','email','message','message',
                                   'demo','quote_sent','note'])[1 + floor(x.r * 1000)::int % 20] AS type) t
        ) a
        """,
    ),
    (
        "lead follow-up columns",
        """
        UPDATE lead l SET first_response_at = f.first_at, last_follow_up_at = f.last_at,
                          last_effective_follow_up_at = f.last_effective_at,
                          updated_at = greatest(l.updated_at, f.last_at, l.pooled_at, l.converted_at,
                                                l.disqualified_at)
        FROM _p p, (
            SELECT lead_id, min(occurred_at) AS first_at, max(occurred_at) AS last_at,
                   max(occurred_at) FILTER (WHERE is_effective) AS last_effective_at
            FROM activity, _p p WHERE organization_id = p.org AND lead_id IS NOT NULL AND type <> 'note'
            GROUP BY lead_id
        ) f
        WHERE l.organization_id = p.org AND l.id = f.lead_id;
        UPDATE lead l SET updated_at = greatest(l.updated_at, l.pooled_at, l.converted_at, l.disqualified_at)
        FROM _p p WHERE l.organization_id = p.org AND l.last_follow_up_at IS NULL
                    AND (l.pooled_at IS NOT NULL OR l.converted_at IS NOT NULL OR l.disqualified_at IS NOT NULL)
        """,
    ),
    (
        "customer follow-up column",
        """
        UPDATE customer c SET last_follow_up_at = f.last_at, updated_at = greatest(c.updated_at, f.last_at)
        FROM _p p, (
            SELECT customer_id, max(occurred_at) AS last_at
            FROM activity, _p p WHERE organization_id = p.org AND customer_id IS NOT NULL AND type <> 'note'
            GROUP BY customer_id
        ) f
        WHERE c.organization_id = p.org AND c.id = f.customer_id
        """,
    ),
    (
        "tasks",
        # 70 % on opportunities (open ones' tasks mostly still open), 30 % on customers.
        """
        INSERT INTO task (id, organization_id, title, assignee_id, due_at, status, opportunity_id, customer_id,
                          stage_id, completed_at, created_at, updated_at, version)
        SELECT gen_random_uuid(), p.org, t.title, t.assignee_id, t.due_at, t.status, t.opportunity_id,
               t.customer_id, t.stage_id, CASE WHEN t.status = 'done' THEN t.due_at - interval '3 hours' END,
               t.due_at - interval '3 days', t.due_at - interval '3 days', 1
        FROM _p p, (
            SELECT '推进: 方案确认' AS title, o.owner_id AS assignee_id,
                   CASE WHEN o.status = 'open' AND x.r < 0.6 THEN p.now + interval '1 day' * (14 * x.t - 7)
                        ELSE o.created_at + (coalesce(o.closed_at, p.now) - o.created_at) * x.t END AS due_at,
                   CASE WHEN o.status = 'open' AND x.r < 0.6 THEN 'open' WHEN x.r < 0.9 THEN 'done'
                        ELSE 'cancelled' END AS status,
                   o.id AS opportunity_id, o.customer_id, CASE WHEN x.n % 2 = 0 THEN op.stage_id END AS stage_id
            FROM _p p CROSS JOIN (SELECT n, random() AS r, random() AS t, random() AS pick
                        FROM _p p, generate_series(1, (p.tasks * 0.7)::int) n) x
            JOIN _opp o ON o.n = 1 + floor(x.pick * p.opportunities)::int
            JOIN opportunity op ON op.id = o.id
            UNION ALL
            SELECT '回访客户', coalesce(c.owner_id, r.id),
                   CASE WHEN x.r < 0.4 THEN p.now + interval '1 day' * (14 * x.t - 7)
                        ELSE c.created_at + (p.now - c.created_at) * x.t END,
                   CASE WHEN x.r < 0.4 THEN 'open' WHEN x.r < 0.9 THEN 'done' ELSE 'cancelled' END,
                   NULL, c.id, NULL
            FROM _p p CROSS JOIN (SELECT n, random() AS r, random() AS t, random() AS pick
                        FROM _p p, generate_series(1, (p.tasks * 0.3)::int) n) x
            JOIN _cust c ON c.n = 1 + floor(p.customers * power(x.pick, 3))::int
            JOIN _rep r ON r.n = 1 + x.n % p.reps
        ) t
        """,
    ),
    (
        "sla timers",
        # First response for leads (live while assigned and unworked), follow-up for customers
        # (live for those followed now), stage dwell for stays (live for open deals' current stay),
        # in that order of priority within the budget. A live timer's state and next_fire_at are
        # what the sweep would have left at `now`, so nothing is overdue for it.
        """
        INSERT INTO sla_timer (id, organization_id, policy_id, kind, subject_type, subject_id, owner_id, state,
                               level, started_at, warn_at, due_at, escalate_at, next_fire_at, stopped_at,
                               created_at, updated_at, version)
        SELECT gen_random_uuid(), p.org, pol.id, t.kind, t.subject_type, t.subject_id, t.owner_id,
               CASE WHEN NOT t.live THEN CASE WHEN t.met THEN 'met' ELSE 'cancelled' END
                    WHEN p.now < t.warn_at THEN 'running' WHEN p.now < t.due_at THEN 'warned' ELSE 'breached' END,
               0, t.started_at, t.warn_at, t.due_at, '[]',
               CASE WHEN NOT t.live THEN NULL WHEN p.now < t.warn_at THEN t.warn_at
                    WHEN p.now < t.due_at THEN t.due_at END,
               CASE WHEN NOT t.live THEN least(t.due_at, p.now) END, t.started_at,
               CASE WHEN t.live THEN t.started_at ELSE least(t.due_at, p.now) END, 1
        FROM _p p CROSS JOIN (
            SELECT kind, subject_type, subject_id, owner_id, live, met, started_at,
                   started_at + (due_at - started_at) * 0.8 AS warn_at, due_at,
                   row_number() OVER (ORDER BY priority, tie) AS position
            FROM (
                SELECT 'first_response' AS kind, 'lead' AS subject_type, l.id AS subject_id, l.owner_id,
                       l.status = 'assigned' AS live, l.status <> 'disqualified' AS met,
                       l.assigned_at AS started_at, l.assigned_at + interval '4 hours' AS due_at,
                       CASE WHEN l.status = 'assigned' THEN 0 ELSE 3 END AS priority, random() AS tie
                FROM _lead l WHERE l.assigned_at IS NOT NULL
                UNION ALL
                SELECT 'follow_up', 'customer', c.id, c.owner_id, c.n % 2 = 0, true,
                       coalesce(cu.last_follow_up_at, cu.created_at),
                       coalesce(cu.last_follow_up_at, cu.created_at) + interval '7 days', 1, random()
                FROM _cust c JOIN customer cu ON cu.id = c.id
                UNION ALL
                SELECT 'stage_dwell', 'opportunity', s.opportunity_id, s.owner_id,
                       s.is_last AND o.status = 'open', true, s.entered_at,
                       s.entered_at + interval '1 hour' * coalesce(s.max_dwell_hours, 240),
                       CASE WHEN s.is_last AND o.status = 'open' THEN 0 ELSE 2 END, random()
                FROM _stay s JOIN _opp o ON o.id = s.opportunity_id WHERE s.move IS DISTINCT FROM 'close'
            ) candidates
        ) t
        JOIN sla_policy pol ON pol.organization_id = p.org AND pol.kind = t.kind
        WHERE t.position <= p.timers
        """,
    ),
    (
        "assignment history",
        """
        INSERT INTO lead_assignment (id, organization_id, lead_id, occurred_at, kind, user_id, previous_user_id,
                                     strategy, reason)
        SELECT gen_random_uuid(), p.org, l.id, l.assigned_at, 'rule', coalesce(l.owner_id, l.previous_owner_id),
               NULL, 'least_loaded', 'rule: 默认'
        FROM _p p, _lead l WHERE l.assigned_at IS NOT NULL
        UNION ALL
        SELECT gen_random_uuid(), p.org, l.id, l.pooled_at, 'release', NULL, l.previous_owner_id, NULL,
               'idle: no effective follow-up'
        FROM _p p, _lead l WHERE l.pooled_at IS NOT NULL
        """,
    ),
    (
        "audit events",
        """
        INSERT INTO audit_event (id, organization_id, occurred_at, actor_type, actor_id, action, entity_type,
                                 entity_id, before, after)
        SELECT gen_random_uuid(), p.org, c.created_at, 'user', c.owner_id, 'customer.created', 'customer', c.id,
               NULL, jsonb_build_object('name', c.name, 'owner_id', c.owner_id)
        FROM _p p, _cust c
        """,
    ),
    (
        "clean up",
        "DROP TABLE _p, _rep, _cust, _lead, _opp, _stage, _stay, _worked, _act",
    ),
]


async def seed(
    connection: AsyncConnection,
    *,
    organization_id: uuid.UUID,
    sizes: Sizes,
    now: datetime,
    password_hash: str,
    prefix: str = USERNAME_PREFIX,
    log: bool = False,
) -> None:
    """Writes `sizes` of history into an organization that exists with its default pipeline.

    PostgreSQL only (gen_random_uuid, generate_series, LATERAL). The caller commits.
    """
    parameters: dict[str, Any] = {
        **dataclasses.asdict(sizes),
        "org": organization_id,
        "now": now,
        "password_hash": password_hash,
        "prefix": prefix,
    }
    for label, sql in _STEPS:
        started = time.perf_counter()
        for statement in filter(str.strip, sql.split(";\n")):
            bound = {k: v for k, v in parameters.items() if f":{k}" in statement}
            await connection.execute(text(statement), bound)
        if log:
            print(f"{label}: {time.perf_counter() - started:.1f} s", flush=True)


async def _generate(url: str, sizes: Sizes) -> None:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as session:
        created = await create_organization(
            session,
            name="Scale Materials",
            admin_username=f"{USERNAME_PREFIX}admin",
            admin_password=PASSWORD,
            timezone="Asia/Shanghai",
        )
        organization_id = created.organization.id
        await session.commit()
    started = time.perf_counter()
    async with engine.begin() as connection:
        await connection.exec_driver_sql("SET LOCAL synchronous_commit = off")
        await connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        await seed(
            connection,
            organization_id=organization_id,
            sizes=sizes,
            now=datetime.now(UTC),
            password_hash=hash_password(PASSWORD),
            log=True,
        )
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("VACUUM ANALYZE")
    await engine.dispose()
    print(f"{url}: {sizes} in {time.perf_counter() - started:.0f} s (with VACUUM ANALYZE)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", required=True, help="PostgreSQL database to (re)create")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="screens")
    parser.add_argument("--leads", type=int, help="scale the preset to this many leads")
    args = parser.parse_args()
    sizes = PRESETS[args.preset]
    if args.leads:
        sizes = sizes.with_leads(args.leads)
    url = asyncio.run(recreate_database(args.database))
    subprocess.run([CRM, "db", "upgrade"], env=bench_env(url), check=True, capture_output=True)
    asyncio.run(_generate(url, sizes))


if __name__ == "__main__":
    main()
