// Run by mongosh on the first start (the image's init phase, before authentication is on): the app's own
// user, allowed its own database only. fs is required, as the docs show: not every mongosh mode has it global.
const pwd = require('fs').readFileSync('/run/secrets/mongo_app_password', 'utf8').trim();
db.getSiblingDB('fhirgraph').createUser({user: 'fhirgraph', pwd, roles: [{role: 'readWrite', db: 'fhirgraph'}]});
