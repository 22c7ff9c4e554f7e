"""Demo CRM simulator: a stand-in for the CRM gateway, serving deterministic synthetic data.

It exists because the real gateway is private: `make demo`, `callaudit run`, the tests and the
benchmarks need fiches, recordings, audio and a known truth about each call to work against. It is
never used in production; `FICHE_API_BASE_URL` points at the real gateway there.

Modules, from pure data to the server:

- `seeding`: derived random generators, so every value is a function of (seed, what, which).
- `people`, `products`: French names, places, insurers and formulas the data is drawn from.
- `directory`: CRM groups and users (agents).
- `fiches`, `recordings`: the core of a fiche (ids, prospect, agent, product) and its calls' metadata.
- `payloads`, `sections`: the gateway's JSON for the sales list, fiche details and users.
- `segments`, `phrases`, `calls`: what is said in each call, word timings and the ground truth.
- `audio`: WAV rendering of a call.
- `config`, `state`, `behaviour`, `app`, `server`: the FastAPI app with latency, faults and counters.

Entry points: `callaudit.demo_crm.server.serve`, `callaudit.demo_crm.server.run_in_thread`,
`callaudit.demo_crm.app.create_app`, `callaudit.demo_crm.config.SimulatorConfig`.
"""
