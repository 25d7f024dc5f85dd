-- wrk script: each request goes to a module picked at random among the
-- N tenants of a generated deployment (N in the MODULES environment
-- variable).
local modules = tonumber(os.getenv("MODULES")) or 1

function init(args)
    math.randomseed(os.time())
end

function request()
    local n = math.random(0, modules - 1)
    return wrk.format("GET", "/t" .. n .. "/my-module/info")
end
