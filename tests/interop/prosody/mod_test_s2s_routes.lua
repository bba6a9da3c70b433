-- Test-only Prosody plugin: send s2s traffic for the domains listed in
-- `test_s2s_routes = { ["xmppd.test"] = { "127.0.0.1", 15269 } }` to that
-- address instead of resolving `_xmpp-server._tcp` / A records (Prosody has
-- no hosts override of its own). A third element is a direct-TLS port,
-- returned for `_xmpps-server._tcp` (XEP-0368, tried first); without it
-- those lookups find nothing and STARTTLS on the second element is used.
local basic = require "net.resolvers.basic";
local service = require "net.resolvers.service";

local routes = module:get_option("test_s2s_routes", {});
local original_new = service.new;
local nothing_mt = { __index = { next = function (_, cb) cb(nil); end } };

service.new = function (hostname, service_name, protocol, extra)
	local route = routes[hostname];
	if route then
		if service_name == "xmpp-server" then
			module:log("info", "static s2s route: %s -> %s:%d", hostname, route[1], route[2]);
			return basic.new(route[1], route[2], protocol, extra);
		end
		if service_name == "xmpps-server" and route[3] then
			module:log("info", "static direct-TLS s2s route: %s -> %s:%d", hostname, route[1], route[3]);
			return basic.new(route[1], route[3], protocol, extra);
		end
		return setmetatable({}, nothing_mt);
	end
	return original_new(hostname, service_name, protocol, extra);
end

function module.unload()
	service.new = original_new;
end
