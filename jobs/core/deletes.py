"""Deletes that keep the graph whole: one script removes an object, everything that exists only
because of it, and every reference to it, in one atomic step, so no read afterwards (in any
replica) finds a dangling id or a NOT_FOUND inside an object it found.

What a delete takes with it, per object kind (the README's "Personal data" says the same):

- a job: its record, event log and output; what it made that no questionnaire lists (a response
  or analysis of a rewrite given its CV as text); it leaves the indexes (the owner's jobs, unfinished
  jobs, leases, finished jobs). With `outputs='all'` (retention) it also takes what it made for a
  questionnaire, and an EXTRACT_RESUME job takes the upload it read.
- a response: its record, the PDFs rendered from it (with the RENDER_PDF jobs that made them: a PDF
  is its job's, and that job would answer NOT_FOUND without it), the job that made it; it leaves
  its questionnaire's list.
- a PDF: its record and bytes, the RENDER_PDF job that made it; it leaves its response's list.
- an analysis: the document and the job that made it (an ANALYZE_CV or IMPROVE_CV job); it leaves
  its questionnaire's list.
- an upload: its record and bytes (given back to the STORAGE quota), the EXTRACT_RESUME jobs that
  read it; the questionnaire forgets it as its CV.
- a questionnaire: its upload, responses, analyses (and so all of the above), and every job made
  for it (failed and cancelled ones too, which hold its CV in their input).

A job is looked up by what it made through the owner's set of jobs (`Keys.user_jobs`), read once
per delete: a delete costs O(the owner's jobs), bounded by their quotas and by RETENTION_DAYS.
A job still unfinished when it is deleted is gone for its worker too: every write of its run is
fenced on the record (jobs/core/events.py) and changes nothing.
"""

from __future__ import annotations

from enum import StrEnum

from jobs.core.errors import ServiceError
from jobs.core.names import Keys
from jobs.core.storage import counter_key

# Published on the owner's channel once deleteMyData erased them: every live stream of theirs on
# every replica ends with AccountErased (graph/live/listener.py).
ERASED_MESSAGE = '{"erased": true}'


class AccountErased(ServiceError):
    code = "ACCOUNT_ERASED"


class Outputs(StrEnum):
    UNLISTED = "unlisted"  # deleteJob: what it made that no questionnaire lists
    ALL = "all"  # retention: everything it made, and the upload an extraction read


# KEYS: the owner's jobs, the owner's questionnaires, their STORAGE counter, the leases, the
# finished jobs, the owner's unfinished jobs and open streams. ARGV: the prefix + ':', what a job
# takes (Outputs), then roots as 'kind:id' (kind: job, q, response, analysis, pdf, resume), or
# EVERYTHING. Returns the ids of the jobs it deleted.
DELETE_LUA = """
local jobs_set, qs_set, counter, leases, finished = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local P, outputs = ARGV[1], ARGV[2]
local made, readers, for_q, job_made = {}, {}, {}, {}
local function add(map, k, v)
  if not map[k] then map[k] = {} end
  table.insert(map[k], v)
end
local function decoded(raw)
  if not raw or raw == '' then return {} end
  local ok, v = pcall(cjson.decode, raw)
  if ok and type(v) == 'table' then return v end
  return {}
end
local function str(v) return type(v) == 'string' and v ~= '' end
-- Who made what, who read what, and what was made for which questionnaire.
for _, id in ipairs(redis.call('SMEMBERS', jobs_set)) do
  local f = redis.call('HMGET', P .. 'job:' .. id, 'kind', 'input', 'result')
  if not f[1] then
    redis.call('SREM', jobs_set, id)
  else
    local input, result = decoded(f[2]), decoded(f[3])
    job_made[id] = {}
    for field, kind in pairs({response_id = 'response', analysis_id = 'analysis', pdf_id = 'pdf'}) do
      if str(result[field]) and not (kind == 'response' and f[1] == 'RENDER_PDF') then
        made[kind .. ':' .. result[field]] = id
        table.insert(job_made[id], kind .. ':' .. result[field])
      end
    end
    if f[1] == 'EXTRACT_RESUME' and str(input.resume_id) then
      add(readers, input.resume_id, id)
      if outputs == 'all' then table.insert(job_made[id], 'resume:' .. input.resume_id) end
    end
    if str(input.questionnaire_id) then add(for_q, input.questionnaire_id, id) end
  end
end
local gone, deleted_jobs = {}, {}
local del
local function del_job(id)
  local rec = P .. 'job:' .. id
  if redis.call('EXISTS', rec) == 0 then return end
  local active = redis.call('HGET', rec, 'active_key')
  if active then redis.call('SREM', active, id) end
  redis.call('DEL', rec, rec .. ':log', rec .. ':output', rec .. ':export')
  redis.call('SREM', jobs_set, id)
  redis.call('ZREM', leases, id)
  redis.call('ZREM', finished, id)
  table.insert(deleted_jobs, id)
  for _, item in ipairs(job_made[id] or {}) do
    local kind, oid = string.match(item, '^(%a+):(.+)$')
    local listed = false
    if outputs ~= 'all' then
      if kind == 'response' then
        listed = str(redis.call('HGET', P .. 'response:' .. oid, 'questionnaire_id'))
      elseif kind == 'analysis' then
        local meta = decoded(redis.call('GET', P .. 'analysis:' .. oid)).meta
        listed = type(meta) == 'table' and str(meta.questionnaire_id)
      elseif kind == 'pdf' then
        listed = true  -- listed by its response, and goes with it
      end
    end
    if not listed then del(item) end
  end
end
local function unlist_from_q(qid, list, id)
  if str(qid) then redis.call('LREM', P .. 'q:' .. qid .. ':' .. list, 0, id) end
end
local function drop_file(key)
  local size = redis.call('STRLEN', key)
  if size > 0 then
    redis.call('DEL', key)
    if redis.call('DECRBY', counter, size) < 0 then redis.call('SET', counter, 0) end
  end
end
del = function(item)
  if gone[item] then return end
  gone[item] = true
  local kind, id = string.match(item, '^(%a+):(.+)$')
  if kind == 'job' then
    del_job(id)
  elseif kind == 'response' then
    local rec = P .. 'response:' .. id
    unlist_from_q(redis.call('HGET', rec, 'questionnaire_id'), 'responses', id)
    local pdfs = redis.call('LRANGE', rec .. ':pdfs', 0, -1)
    redis.call('DEL', rec, rec .. ':pdfs')
    for _, pdf in ipairs(pdfs) do del('pdf:' .. pdf) end
    if made[item] then del('job:' .. made[item]) end
  elseif kind == 'pdf' then
    local rec = P .. 'pdf:' .. id
    local response = redis.call('HGET', rec, 'response_id')
    if str(response) then redis.call('LREM', P .. 'response:' .. response .. ':pdfs', 0, id) end
    redis.call('DEL', rec, rec .. ':file')
    if made[item] then del('job:' .. made[item]) end
  elseif kind == 'analysis' then
    local key = P .. 'analysis:' .. id
    local meta = decoded(redis.call('GET', key)).meta or {}
    unlist_from_q(meta.questionnaire_id, 'analyses', id)
    redis.call('DEL', key)
    if made[item] then del('job:' .. made[item]) end
  elseif kind == 'resume' then
    local rec = P .. 'resume:' .. id
    local qid = redis.call('HGET', rec, 'questionnaire_id')
    if str(qid) and redis.call('HGET', P .. 'q:' .. qid, 'resume_id') == id then
      redis.call('HDEL', P .. 'q:' .. qid, 'resume_id')
    end
    redis.call('DEL', rec)
    drop_file(rec .. ':file')
    for _, job in ipairs(readers[id] or {}) do del('job:' .. job) end
  elseif kind == 'q' then
    local rec = P .. 'q:' .. id
    local resume = redis.call('HGET', rec, 'resume_id')
    if str(resume) then del('resume:' .. resume) end
    for _, r in ipairs(redis.call('LRANGE', rec .. ':responses', 0, -1)) do del('response:' .. r) end
    for _, a in ipairs(redis.call('LRANGE', rec .. ':analyses', 0, -1)) do del('analysis:' .. a) end
    for _, job in ipairs(for_q[id] or {}) do del('job:' .. job) end
    redis.call('DEL', rec, rec .. ':responses', rec .. ':analyses')
    for _, member in ipairs(redis.call('ZRANGE', qs_set, 0, -1)) do
      if string.sub(member, -#id - 1) == ':' .. id then redis.call('ZREM', qs_set, member) end
    end
  end
end
for i = 3, #ARGV do
  if ARGV[i] == 'everything' then
    -- deleteMyData: every job and questionnaire, read here so none created meanwhile is missed,
    -- then the owner's indexes and open streams' register.
    for _, id in ipairs(redis.call('SMEMBERS', jobs_set)) do del('job:' .. id) end
    for _, member in ipairs(redis.call('ZRANGE', qs_set, 0, -1)) do
      del('q:' .. string.match(member, '^[^:]*:(.+)$'))
    end
    redis.call('DEL', jobs_set, qs_set, KEYS[6], KEYS[7])
  else
    del(ARGV[i])
  end
end
return deleted_jobs
"""


def delete_keys(keys: Keys, owner: str) -> list[str]:
    """DELETE_LUA's KEYS for this owner."""
    return [
        keys.user_jobs(owner),
        keys.user_questionnaires(owner),
        counter_key(keys, owner),
        keys.leases,
        keys.finished_jobs,
        keys.user_active_jobs(owner),
        keys.user_sockets(owner),
    ]


def delete_args(keys: Keys, outputs: Outputs, roots: list[str]) -> list[str]:
    return [f"{keys.prefix}:", outputs.value, *roots]


EVERYTHING = "everything"  # the root of deleteMyData: all the owner's jobs and questionnaires


def job_root(job_id: str) -> str:
    return f"job:{job_id}"


def questionnaire_root(questionnaire_id: str) -> str:
    return f"q:{questionnaire_id}"
