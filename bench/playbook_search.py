"""Playbook search time on PostgreSQL: a library of N entries (cases, objection answers, scripts)
in Chinese, searched by a rep with the seed's query and others, through the service's own SQL.

Run: .venv/bin/python -m bench.playbook_search [--entries 10000] [--runs 20] [--explain]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text

from app.db import Base, create_engine, create_sessionmaker
from app.domain.identity.permissions import Role
from app.domain.identity.principal import Principal
from app.domain.models import PlaybookEntry, PlaybookTerm, User
from app.domain.playbook.playbook import ApprovalState, PlaybookKind, Tags, entry_terms
from app.services.organizations import create_organization
from app.services.playbook import playbook
from bench.common import recreate_database

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
INDUSTRIES = ["医疗", "教育", "制造", "建筑", "零售", "物流", "能源", "政府", "金融", "化工"]
CUSTOMERS = [
    "三甲医院",
    "二级医院",
    "民营医院",
    "高校",
    "经销商",
    "总包单位",
    "设计院",
    "连锁门店",
    "国企",
    "外企",
]
OBJECTIONS = [
    "预算有限",
    "价格太高",
    "已有供应商",
    "决策周期长",
    "担心质量",
    "交期太长",
    "售后顾虑",
    "需要招标",
]
PRODUCTS = ["检验试剂", "生化仪", "防水卷材", "涂料", "保温板", "软件平台", "耗材", "维保服务"]
DEPARTMENTS = ["检验科", "采购部", "设备科", "信息科", "工程部", "财务部", "院办", "后勤处"]
SENTENCES = [
    "先确认{dept}的预算周期，再提出分期付款方案。",
    "客户说{objection}时，先认同再用同级{customer}的案例说明回报。",
    "{customer}{dept}主任关心{product}的稳定性，安排现场演示。",
    "针对{objection}，提供按用量结算和首年免费维保两个选项。",
    "拜访前准备{industry}行业的政策文件和成功案例。",
    "电话开场先说明来意，再约{dept}负责人面谈。",
    "报价阶段强调{product}的全生命周期成本而非单价。",
]
QUERIES = [
    "三甲医院 检验科 预算有限",
    "价格太高",
    "高校 设备科",
    "防水卷材 交期太长",
    "分期付款",
    "经销商 已有供应商 售后",
    "政策文件",
    "现场演示 生化仪",
    "需要招标 国企",
    "首年免费维保",
]


def _entry(rng: random.Random, organization_id: uuid.UUID, author_id: uuid.UUID, i: int) -> dict[str, Any]:
    pick = {
        "industry": rng.choice(INDUSTRIES),
        "customer": rng.choice(CUSTOMERS),
        "objection": rng.choice(OBJECTIONS),
        "product": rng.choice(PRODUCTS),
        "dept": rng.choice(DEPARTMENTS),
    }
    body = "".join(rng.choice(SENTENCES).format(**pick) for _ in range(rng.randint(3, 8)))
    tags = Tags(
        industry=pick["industry"],
        customer_type=pick["customer"] if rng.random() < 0.7 else None,
        product_line=pick["product"] if rng.random() < 0.5 else None,
        objection_type=pick["objection"] if rng.random() < 0.6 else None,
    )
    created = NOW - timedelta(minutes=i)
    return {
        "id": uuid.uuid4(),
        "organization_id": organization_id,
        "kind": rng.choice(list(PlaybookKind)),
        "title": f"{pick['customer']}{pick['objection']}应对 {i}",
        "body": body,
        **tags.__dict__,
        "author_id": author_id,
        "approval_state": ApprovalState.approved if rng.random() < 0.85 else ApprovalState.pending,
        "usage_count": rng.randint(0, 50),
        "created_at": created,
        "updated_at": created,
        "version": 1,
        "search_terms": "",
    }


async def _seed(url: str, entries: int) -> tuple[Principal, dict[str, Any]]:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    sessionmaker = create_sessionmaker(engine)
    rng = random.Random(21)
    started = time.perf_counter()
    async with sessionmaker() as session:
        org = await create_organization(
            session,
            name="Bench Playbook",
            admin_username="admin",
            admin_password="x" * 12,
            timezone="Asia/Shanghai",
        )
        organization_id = org.organization.id
        rep_id = uuid.uuid4()
        await session.execute(
            insert(User),
            [
                {
                    "id": rep_id,
                    "organization_id": organization_id,
                    "username": "rep",
                    "display_name": "销售",
                    "role": Role.rep,
                    "password_hash": "-",
                }
            ],
        )
        term_rows = 0
        for start in range(0, entries, 1000):
            rows = [_entry(rng, organization_id, rep_id, i) for i in range(start, min(entries, start + 1000))]
            terms: list[dict[str, Any]] = []
            for row in rows:
                indexed = entry_terms(row["title"], row["body"], Tags(**{k: row[k] for k in Tags().__dict__}))
                row["search_terms"] = indexed.text
                terms += [
                    {
                        "entry_id": row["id"],
                        "term": t,
                        "organization_id": organization_id,
                        "is_tag": t in indexed.tag_terms,
                    }
                    for t in indexed.terms
                ]
            await session.execute(insert(PlaybookEntry), rows)
            await session.execute(insert(PlaybookTerm), terms)
            term_rows += len(terms)
        await session.commit()
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("VACUUM ANALYZE")
    await engine.dispose()
    seeded = {
        "entries": entries,
        "term_rows": term_rows,
        "seed_seconds": round(time.perf_counter() - started, 1),
    }
    return Principal.for_user(organization_id, rep_id, Role.rep), seeded


async def _measure(url: str, rep: Principal, runs: int, explain: bool) -> dict[str, Any]:
    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    filters = playbook.EntryFilters()
    timings: list[float] = []
    hits: dict[str, int] = {}
    async with sessionmaker() as session:
        await playbook.search_entries(session, actor=rep, q="预热", filters=filters, limit=20)  # jieba loads
        for run in range(runs):
            query = QUERIES[run % len(QUERIES)]
            started = time.perf_counter()
            found = await playbook.search_entries(session, actor=rep, q=query, filters=filters, limit=20)
            timings.append((time.perf_counter() - started) * 1000)
            hits[query] = len(found)
        if explain:
            print(await _plan(session, rep))
    await engine.dispose()
    ordered = sorted(timings)
    return {
        "runs": runs,
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
        "max_ms": round(ordered[-1], 1),
        "results_per_query": hits,
    }


async def _plan(session: Any, rep: Principal) -> str:
    """EXPLAIN ANALYZE of the seed query, as the service builds it."""
    captured: list[Any] = []
    original = session.scalars

    async def capture(statement: Any, *args: Any, **kwargs: Any) -> Any:
        captured.append(statement)
        return await original(statement, *args, **kwargs)

    session.scalars = capture
    await playbook.search_entries(session, actor=rep, q=QUERIES[0], filters=playbook.EntryFilters(), limit=20)
    session.scalars = original
    compiled = captured[0].compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = await session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}"))
    return "\n".join(line for (line,) in plan)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()

    async def run() -> None:
        url = await recreate_database("crm_bench_playbook")
        rep, seeded = await _seed(url, args.entries)
        results = await _measure(url, rep, args.runs, args.explain)
        print(json.dumps({**seeded, **results}, indent=2, ensure_ascii=False))

    asyncio.run(run())


if __name__ == "__main__":
    main()
